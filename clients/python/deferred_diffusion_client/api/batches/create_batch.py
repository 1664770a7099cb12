from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response
from ... import errors

from ...models.batch_created import BatchCreated
from ...models.batch_request import BatchRequest
from ...models.error_response import ErrorResponse


def _get_kwargs(
    *,
    body: BatchRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/batches",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[BatchCreated, ErrorResponse]]:
    if response.status_code == 202:
        response_202 = BatchCreated.from_dict(response.json())

        return response_202

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
) -> Response[Union[BatchCreated, ErrorResponse]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
) -> Response[Union[BatchCreated, ErrorResponse]]:
    """Submit a batch

     Every task is checked as a single submit would be (a 422 names the first one that is not right),
    then all are admitted at once against the backlogs, or none.

    Args:
        body (BatchRequest): A `base` request of one domain, with `vary` (a cross product of
            values per field), or an
            explicit list of `requests` merged over the base; `labels` name the tasks in order (frame
            numbers, wedge names) and come back on each task and output. Example: {'base': {'height':
            64, 'model': 'tiny-sd', 'prompt': 'a red teapot', 'steps': 4, 'width': 64}, 'domain':
            'images', 'vary': {'guidance': [5, 7.5], 'seed': {'from': 1, 'to': 4}}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[BatchCreated, ErrorResponse]]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
) -> Optional[Union[BatchCreated, ErrorResponse]]:
    """Submit a batch

     Every task is checked as a single submit would be (a 422 names the first one that is not right),
    then all are admitted at once against the backlogs, or none.

    Args:
        body (BatchRequest): A `base` request of one domain, with `vary` (a cross product of
            values per field), or an
            explicit list of `requests` merged over the base; `labels` name the tasks in order (frame
            numbers, wedge names) and come back on each task and output. Example: {'base': {'height':
            64, 'model': 'tiny-sd', 'prompt': 'a red teapot', 'steps': 4, 'width': 64}, 'domain':
            'images', 'vary': {'guidance': [5, 7.5], 'seed': {'from': 1, 'to': 4}}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[BatchCreated, ErrorResponse]
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
) -> Response[Union[BatchCreated, ErrorResponse]]:
    """Submit a batch

     Every task is checked as a single submit would be (a 422 names the first one that is not right),
    then all are admitted at once against the backlogs, or none.

    Args:
        body (BatchRequest): A `base` request of one domain, with `vary` (a cross product of
            values per field), or an
            explicit list of `requests` merged over the base; `labels` name the tasks in order (frame
            numbers, wedge names) and come back on each task and output. Example: {'base': {'height':
            64, 'model': 'tiny-sd', 'prompt': 'a red teapot', 'steps': 4, 'width': 64}, 'domain':
            'images', 'vary': {'guidance': [5, 7.5], 'seed': {'from': 1, 'to': 4}}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[BatchCreated, ErrorResponse]]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
) -> Optional[Union[BatchCreated, ErrorResponse]]:
    """Submit a batch

     Every task is checked as a single submit would be (a 422 names the first one that is not right),
    then all are admitted at once against the backlogs, or none.

    Args:
        body (BatchRequest): A `base` request of one domain, with `vary` (a cross product of
            values per field), or an
            explicit list of `requests` merged over the base; `labels` name the tasks in order (frame
            numbers, wedge names) and come back on each task and output. Example: {'base': {'height':
            64, 'model': 'tiny-sd', 'prompt': 'a red teapot', 'steps': 4, 'width': 64}, 'domain':
            'images', 'vary': {'guidance': [5, 7.5], 'seed': {'from': 1, 'to': 4}}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[BatchCreated, ErrorResponse]
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
