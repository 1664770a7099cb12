from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_response import ErrorResponse
from ...models.usage_report import UsageReport
from ...types import Unset
import datetime


def _get_kwargs(
    *,
    since: Union[None, Unset, datetime.date] = UNSET,
    until: Union[None, Unset, datetime.date] = UNSET,
) -> dict[str, Any]:
    params: dict[str, Any] = {}

    json_since: Union[None, Unset, str]
    if isinstance(since, Unset):
        json_since = UNSET
    elif isinstance(since, datetime.date):
        json_since = since.isoformat()
    else:
        json_since = since
    params["since"] = json_since

    json_until: Union[None, Unset, str]
    if isinstance(until, Unset):
        json_until = UNSET
    elif isinstance(until, datetime.date):
        json_until = until.isoformat()
    else:
        json_until = until
    params["until"] = json_until

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/usage",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[ErrorResponse, UsageReport]]:
    if response.status_code == 200:
        response_200 = UsageReport.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorResponse.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = ErrorResponse.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Response[Union[ErrorResponse, UsageReport]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    since: Union[None, Unset, datetime.date] = UNSET,
    until: Union[None, Unset, datetime.date] = UNSET,
) -> Response[Union[ErrorResponse, UsageReport]]:
    """Your usage per day

     Tasks by status and model, GPU seconds, provider calls and billed units, output bytes: counted as
    tasks end.

    Args:
        since (Union[None, Unset, datetime.date]): First UTC day (default: 6 days before `until`).
        until (Union[None, Unset, datetime.date]): Last UTC day, included (default: today).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorResponse, UsageReport]]
    """

    kwargs = _get_kwargs(
        since=since,
        until=until,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    since: Union[None, Unset, datetime.date] = UNSET,
    until: Union[None, Unset, datetime.date] = UNSET,
) -> Optional[Union[ErrorResponse, UsageReport]]:
    """Your usage per day

     Tasks by status and model, GPU seconds, provider calls and billed units, output bytes: counted as
    tasks end.

    Args:
        since (Union[None, Unset, datetime.date]): First UTC day (default: 6 days before `until`).
        until (Union[None, Unset, datetime.date]): Last UTC day, included (default: today).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorResponse, UsageReport]
    """

    return sync_detailed(
        client=client,
        since=since,
        until=until,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    since: Union[None, Unset, datetime.date] = UNSET,
    until: Union[None, Unset, datetime.date] = UNSET,
) -> Response[Union[ErrorResponse, UsageReport]]:
    """Your usage per day

     Tasks by status and model, GPU seconds, provider calls and billed units, output bytes: counted as
    tasks end.

    Args:
        since (Union[None, Unset, datetime.date]): First UTC day (default: 6 days before `until`).
        until (Union[None, Unset, datetime.date]): Last UTC day, included (default: today).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorResponse, UsageReport]]
    """

    kwargs = _get_kwargs(
        since=since,
        until=until,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    since: Union[None, Unset, datetime.date] = UNSET,
    until: Union[None, Unset, datetime.date] = UNSET,
) -> Optional[Union[ErrorResponse, UsageReport]]:
    """Your usage per day

     Tasks by status and model, GPU seconds, provider calls and billed units, output bytes: counted as
    tasks end.

    Args:
        since (Union[None, Unset, datetime.date]): First UTC day (default: 6 days before `until`).
        until (Union[None, Unset, datetime.date]): Last UTC day, included (default: today).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorResponse, UsageReport]
    """

    return (
        await asyncio_detailed(
            client=client,
            since=since,
            until=until,
        )
    ).parsed
