from http import HTTPStatus
from typing import Any, Optional, Union, cast

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_response import ErrorResponse
from ...types import Unset


def _get_kwargs(
    ref: str,
    *,
    expires: int,
    sig: str,
    filename: Union[None, Unset, str] = UNSET,
) -> dict[str, Any]:
    params: dict[str, Any] = {}

    params["expires"] = expires

    params["sig"] = sig

    json_filename: Union[None, Unset, str]
    if isinstance(filename, Unset):
        json_filename = UNSET
    else:
        json_filename = filename
    params["filename"] = json_filename

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/files/{ref}".format(
            ref=ref,
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[Any, ErrorResponse]]:
    if response.status_code == 200:
        response_200 = cast(Any, None)
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
) -> Response[Union[Any, ErrorResponse]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    ref: str,
    *,
    client: Union[AuthenticatedClient, Client],
    expires: int,
    sig: str,
    filename: Union[None, Unset, str] = UNSET,
) -> Response[Union[Any, ErrorResponse]]:
    """Download a file by signed URL

     Needs no API key: the signature and expiry in the URL are the permission.

    Args:
        ref (str):
        expires (int):
        sig (str):
        filename (Union[None, Unset, str]): The name to save as (signed with the URL).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[Any, ErrorResponse]]
    """

    kwargs = _get_kwargs(
        ref=ref,
        expires=expires,
        sig=sig,
        filename=filename,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    ref: str,
    *,
    client: Union[AuthenticatedClient, Client],
    expires: int,
    sig: str,
    filename: Union[None, Unset, str] = UNSET,
) -> Optional[Union[Any, ErrorResponse]]:
    """Download a file by signed URL

     Needs no API key: the signature and expiry in the URL are the permission.

    Args:
        ref (str):
        expires (int):
        sig (str):
        filename (Union[None, Unset, str]): The name to save as (signed with the URL).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[Any, ErrorResponse]
    """

    return sync_detailed(
        ref=ref,
        client=client,
        expires=expires,
        sig=sig,
        filename=filename,
    ).parsed


async def asyncio_detailed(
    ref: str,
    *,
    client: Union[AuthenticatedClient, Client],
    expires: int,
    sig: str,
    filename: Union[None, Unset, str] = UNSET,
) -> Response[Union[Any, ErrorResponse]]:
    """Download a file by signed URL

     Needs no API key: the signature and expiry in the URL are the permission.

    Args:
        ref (str):
        expires (int):
        sig (str):
        filename (Union[None, Unset, str]): The name to save as (signed with the URL).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[Any, ErrorResponse]]
    """

    kwargs = _get_kwargs(
        ref=ref,
        expires=expires,
        sig=sig,
        filename=filename,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    ref: str,
    *,
    client: Union[AuthenticatedClient, Client],
    expires: int,
    sig: str,
    filename: Union[None, Unset, str] = UNSET,
) -> Optional[Union[Any, ErrorResponse]]:
    """Download a file by signed URL

     Needs no API key: the signature and expiry in the URL are the permission.

    Args:
        ref (str):
        expires (int):
        sig (str):
        filename (Union[None, Unset, str]): The name to save as (signed with the URL).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[Any, ErrorResponse]
    """

    return (
        await asyncio_detailed(
            ref=ref,
            client=client,
            expires=expires,
            sig=sig,
            filename=filename,
        )
    ).parsed
