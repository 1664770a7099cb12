from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.domain import Domain
from ...models.error_response import ErrorResponse
from ...models.task_page import TaskPage
from ...models.task_status import TaskStatus
from ...types import Unset
import datetime


def _get_kwargs(
    *,
    domain: Union[Domain, None, Unset] = UNSET,
    status: Union[None, TaskStatus, Unset] = UNSET,
    model: Union[None, Unset, str] = UNSET,
    since: Union[None, Unset, datetime.datetime] = UNSET,
    limit: Union[Unset, int] = 20,
    cursor: Union[None, Unset, str] = UNSET,
    batch: Union[None, Unset, str] = UNSET,
    key_id: Union[None, Unset, str] = UNSET,
) -> dict[str, Any]:
    params: dict[str, Any] = {}

    json_domain: Union[None, Unset, str]
    if isinstance(domain, Unset):
        json_domain = UNSET
    elif isinstance(domain, Domain):
        json_domain = domain.value
    else:
        json_domain = domain
    params["domain"] = json_domain

    json_status: Union[None, Unset, str]
    if isinstance(status, Unset):
        json_status = UNSET
    elif isinstance(status, TaskStatus):
        json_status = status.value
    else:
        json_status = status
    params["status"] = json_status

    json_model: Union[None, Unset, str]
    if isinstance(model, Unset):
        json_model = UNSET
    else:
        json_model = model
    params["model"] = json_model

    json_since: Union[None, Unset, str]
    if isinstance(since, Unset):
        json_since = UNSET
    elif isinstance(since, datetime.datetime):
        json_since = since.isoformat()
    else:
        json_since = since
    params["since"] = json_since

    params["limit"] = limit

    json_cursor: Union[None, Unset, str]
    if isinstance(cursor, Unset):
        json_cursor = UNSET
    else:
        json_cursor = cursor
    params["cursor"] = json_cursor

    json_batch: Union[None, Unset, str]
    if isinstance(batch, Unset):
        json_batch = UNSET
    else:
        json_batch = batch
    params["batch"] = json_batch

    json_key_id: Union[None, Unset, str]
    if isinstance(key_id, Unset):
        json_key_id = UNSET
    else:
        json_key_id = key_id
    params["key_id"] = json_key_id

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/tasks",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[ErrorResponse, TaskPage]]:
    if response.status_code == 200:
        response_200 = TaskPage.from_dict(response.json())

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
) -> Response[Union[ErrorResponse, TaskPage]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    domain: Union[Domain, None, Unset] = UNSET,
    status: Union[None, TaskStatus, Unset] = UNSET,
    model: Union[None, Unset, str] = UNSET,
    since: Union[None, Unset, datetime.datetime] = UNSET,
    limit: Union[Unset, int] = 20,
    cursor: Union[None, Unset, str] = UNSET,
    batch: Union[None, Unset, str] = UNSET,
    key_id: Union[None, Unset, str] = UNSET,
) -> Response[Union[ErrorResponse, TaskPage]]:
    """List your tasks

     Newest first, as GET on each returns them; filters combine. Records (and so their entries here)
    expire DDIFFUSION_RESULT_TTL after they end.

    Args:
        domain (Union[Domain, None, Unset]):
        status (Union[None, TaskStatus, Unset]):
        model (Union[None, Unset, str]): A catalogue name, e.g. tiny-sd.
        since (Union[None, Unset, datetime.datetime]): Only tasks created at or after this time
            (ISO 8601).
        limit (Union[Unset, int]):  Default: 20.
        cursor (Union[None, Unset, str]): `next_cursor` of the previous page.
        batch (Union[None, Unset, str]): Only the tasks of this batch.
        key_id (Union[None, Unset, str]): Admin key only: another key's tasks (its id).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorResponse, TaskPage]]
    """

    kwargs = _get_kwargs(
        domain=domain,
        status=status,
        model=model,
        since=since,
        limit=limit,
        cursor=cursor,
        batch=batch,
        key_id=key_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    domain: Union[Domain, None, Unset] = UNSET,
    status: Union[None, TaskStatus, Unset] = UNSET,
    model: Union[None, Unset, str] = UNSET,
    since: Union[None, Unset, datetime.datetime] = UNSET,
    limit: Union[Unset, int] = 20,
    cursor: Union[None, Unset, str] = UNSET,
    batch: Union[None, Unset, str] = UNSET,
    key_id: Union[None, Unset, str] = UNSET,
) -> Optional[Union[ErrorResponse, TaskPage]]:
    """List your tasks

     Newest first, as GET on each returns them; filters combine. Records (and so their entries here)
    expire DDIFFUSION_RESULT_TTL after they end.

    Args:
        domain (Union[Domain, None, Unset]):
        status (Union[None, TaskStatus, Unset]):
        model (Union[None, Unset, str]): A catalogue name, e.g. tiny-sd.
        since (Union[None, Unset, datetime.datetime]): Only tasks created at or after this time
            (ISO 8601).
        limit (Union[Unset, int]):  Default: 20.
        cursor (Union[None, Unset, str]): `next_cursor` of the previous page.
        batch (Union[None, Unset, str]): Only the tasks of this batch.
        key_id (Union[None, Unset, str]): Admin key only: another key's tasks (its id).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorResponse, TaskPage]
    """

    return sync_detailed(
        client=client,
        domain=domain,
        status=status,
        model=model,
        since=since,
        limit=limit,
        cursor=cursor,
        batch=batch,
        key_id=key_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    domain: Union[Domain, None, Unset] = UNSET,
    status: Union[None, TaskStatus, Unset] = UNSET,
    model: Union[None, Unset, str] = UNSET,
    since: Union[None, Unset, datetime.datetime] = UNSET,
    limit: Union[Unset, int] = 20,
    cursor: Union[None, Unset, str] = UNSET,
    batch: Union[None, Unset, str] = UNSET,
    key_id: Union[None, Unset, str] = UNSET,
) -> Response[Union[ErrorResponse, TaskPage]]:
    """List your tasks

     Newest first, as GET on each returns them; filters combine. Records (and so their entries here)
    expire DDIFFUSION_RESULT_TTL after they end.

    Args:
        domain (Union[Domain, None, Unset]):
        status (Union[None, TaskStatus, Unset]):
        model (Union[None, Unset, str]): A catalogue name, e.g. tiny-sd.
        since (Union[None, Unset, datetime.datetime]): Only tasks created at or after this time
            (ISO 8601).
        limit (Union[Unset, int]):  Default: 20.
        cursor (Union[None, Unset, str]): `next_cursor` of the previous page.
        batch (Union[None, Unset, str]): Only the tasks of this batch.
        key_id (Union[None, Unset, str]): Admin key only: another key's tasks (its id).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorResponse, TaskPage]]
    """

    kwargs = _get_kwargs(
        domain=domain,
        status=status,
        model=model,
        since=since,
        limit=limit,
        cursor=cursor,
        batch=batch,
        key_id=key_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    domain: Union[Domain, None, Unset] = UNSET,
    status: Union[None, TaskStatus, Unset] = UNSET,
    model: Union[None, Unset, str] = UNSET,
    since: Union[None, Unset, datetime.datetime] = UNSET,
    limit: Union[Unset, int] = 20,
    cursor: Union[None, Unset, str] = UNSET,
    batch: Union[None, Unset, str] = UNSET,
    key_id: Union[None, Unset, str] = UNSET,
) -> Optional[Union[ErrorResponse, TaskPage]]:
    """List your tasks

     Newest first, as GET on each returns them; filters combine. Records (and so their entries here)
    expire DDIFFUSION_RESULT_TTL after they end.

    Args:
        domain (Union[Domain, None, Unset]):
        status (Union[None, TaskStatus, Unset]):
        model (Union[None, Unset, str]): A catalogue name, e.g. tiny-sd.
        since (Union[None, Unset, datetime.datetime]): Only tasks created at or after this time
            (ISO 8601).
        limit (Union[Unset, int]):  Default: 20.
        cursor (Union[None, Unset, str]): `next_cursor` of the previous page.
        batch (Union[None, Unset, str]): Only the tasks of this batch.
        key_id (Union[None, Unset, str]): Admin key only: another key's tasks (its id).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorResponse, TaskPage]
    """

    return (
        await asyncio_detailed(
            client=client,
            domain=domain,
            status=status,
            model=model,
            since=since,
            limit=limit,
            cursor=cursor,
            batch=batch,
            key_id=key_id,
        )
    ).parsed
