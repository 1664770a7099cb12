from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_response import ErrorResponse
from ...models.task_created import TaskCreated
from ...models.task_record import TaskRecord
from ...models.video_request import VideoRequest
from ...types import Unset


def _get_kwargs(
    *,
    body: VideoRequest,
    idempotency_key: Union[None, Unset, str] = UNSET,
    prefer: Union[None, Unset, str] = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["idempotency-key"] = idempotency_key

    if not isinstance(prefer, Unset):
        headers["prefer"] = prefer

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/videos",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[ErrorResponse, TaskCreated, TaskRecord]]:
    if response.status_code == 200:
        response_200 = TaskRecord.from_dict(response.json())

        return response_200

    if response.status_code == 202:
        response_202 = TaskCreated.from_dict(response.json())

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
) -> Response[Union[ErrorResponse, TaskCreated, TaskRecord]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: VideoRequest,
    idempotency_key: Union[None, Unset, str] = UNSET,
    prefer: Union[None, Unset, str] = UNSET,
) -> Response[Union[ErrorResponse, TaskCreated, TaskRecord]]:
    """Submit a video task

     Answers at once with the task id (and a `Location` header); poll GET /api/videos/{id} or stream its
    events, or send `Prefer: wait=N` to get the finished record in this answer when it ends within N
    seconds. Pick an example below: the first needs nothing, the others say what to upload first.

    Args:
        idempotency_key (Union[None, Unset, str]): Retrying with the same key and body returns the
            same task.
        prefer (Union[None, Unset, str]): `wait=N` (N ≤ 60): answer 200 with the finished record
            if the task ends within N seconds, else 202 as usual.
        body (VideoRequest): Text-to-video; with `image` it becomes image-to-video where the model
            supports it. Example: {'model': 'tiny-ltx', 'prompt': 'a paper boat drifting on a pond',
            'seed': 7}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorResponse, TaskCreated, TaskRecord]]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
        prefer=prefer,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: VideoRequest,
    idempotency_key: Union[None, Unset, str] = UNSET,
    prefer: Union[None, Unset, str] = UNSET,
) -> Optional[Union[ErrorResponse, TaskCreated, TaskRecord]]:
    """Submit a video task

     Answers at once with the task id (and a `Location` header); poll GET /api/videos/{id} or stream its
    events, or send `Prefer: wait=N` to get the finished record in this answer when it ends within N
    seconds. Pick an example below: the first needs nothing, the others say what to upload first.

    Args:
        idempotency_key (Union[None, Unset, str]): Retrying with the same key and body returns the
            same task.
        prefer (Union[None, Unset, str]): `wait=N` (N ≤ 60): answer 200 with the finished record
            if the task ends within N seconds, else 202 as usual.
        body (VideoRequest): Text-to-video; with `image` it becomes image-to-video where the model
            supports it. Example: {'model': 'tiny-ltx', 'prompt': 'a paper boat drifting on a pond',
            'seed': 7}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorResponse, TaskCreated, TaskRecord]
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
        prefer=prefer,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: VideoRequest,
    idempotency_key: Union[None, Unset, str] = UNSET,
    prefer: Union[None, Unset, str] = UNSET,
) -> Response[Union[ErrorResponse, TaskCreated, TaskRecord]]:
    """Submit a video task

     Answers at once with the task id (and a `Location` header); poll GET /api/videos/{id} or stream its
    events, or send `Prefer: wait=N` to get the finished record in this answer when it ends within N
    seconds. Pick an example below: the first needs nothing, the others say what to upload first.

    Args:
        idempotency_key (Union[None, Unset, str]): Retrying with the same key and body returns the
            same task.
        prefer (Union[None, Unset, str]): `wait=N` (N ≤ 60): answer 200 with the finished record
            if the task ends within N seconds, else 202 as usual.
        body (VideoRequest): Text-to-video; with `image` it becomes image-to-video where the model
            supports it. Example: {'model': 'tiny-ltx', 'prompt': 'a paper boat drifting on a pond',
            'seed': 7}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorResponse, TaskCreated, TaskRecord]]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
        prefer=prefer,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: VideoRequest,
    idempotency_key: Union[None, Unset, str] = UNSET,
    prefer: Union[None, Unset, str] = UNSET,
) -> Optional[Union[ErrorResponse, TaskCreated, TaskRecord]]:
    """Submit a video task

     Answers at once with the task id (and a `Location` header); poll GET /api/videos/{id} or stream its
    events, or send `Prefer: wait=N` to get the finished record in this answer when it ends within N
    seconds. Pick an example below: the first needs nothing, the others say what to upload first.

    Args:
        idempotency_key (Union[None, Unset, str]): Retrying with the same key and body returns the
            same task.
        prefer (Union[None, Unset, str]): `wait=N` (N ≤ 60): answer 200 with the finished record
            if the task ends within N seconds, else 202 as usual.
        body (VideoRequest): Text-to-video; with `image` it becomes image-to-video where the model
            supports it. Example: {'model': 'tiny-ltx', 'prompt': 'a paper boat drifting on a pond',
            'seed': 7}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorResponse, TaskCreated, TaskRecord]
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
            prefer=prefer,
        )
    ).parsed
