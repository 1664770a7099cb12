from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response
from ... import errors

from ...models.scaling import Scaling


def _get_kwargs() -> dict[str, Any]:
    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/scaling",
    }

    return _kwargs


def _parse_response(*, client: Union[AuthenticatedClient, Client], response: httpx.Response) -> Optional[Scaling]:
    if response.status_code == 200:
        response_200 = Scaling.from_dict(response.json())

        return response_200

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: Union[AuthenticatedClient, Client], response: httpx.Response) -> Response[Scaling]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: Union[AuthenticatedClient, Client],
) -> Response[Scaling]:
    """Queue demand for autoscalers

     Per queue: tasks queued, tasks running and live workers. KEDA's metrics-api scaler reads
    `queues.<queue>.demand` (queued + running), so a task that a worker has prefetched or is
    running keeps its worker, and scale-down only takes what no task needs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Scaling]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: Union[AuthenticatedClient, Client],
) -> Optional[Scaling]:
    """Queue demand for autoscalers

     Per queue: tasks queued, tasks running and live workers. KEDA's metrics-api scaler reads
    `queues.<queue>.demand` (queued + running), so a task that a worker has prefetched or is
    running keeps its worker, and scale-down only takes what no task needs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Scaling
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: Union[AuthenticatedClient, Client],
) -> Response[Scaling]:
    """Queue demand for autoscalers

     Per queue: tasks queued, tasks running and live workers. KEDA's metrics-api scaler reads
    `queues.<queue>.demand` (queued + running), so a task that a worker has prefetched or is
    running keeps its worker, and scale-down only takes what no task needs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Scaling]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: Union[AuthenticatedClient, Client],
) -> Optional[Scaling]:
    """Queue demand for autoscalers

     Per queue: tasks queued, tasks running and live workers. KEDA's metrics-api scaler reads
    `queues.<queue>.demand` (queued + running), so a task that a worker has prefetched or is
    running keeps its worker, and scale-down only takes what no task needs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Scaling
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
