import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import BaseUrl, CurrentKey, PlatformDep
from api.errors import ERROR_RESPONSES
from api.tasks import keep_blobs
from core.errors import PayloadTooLargeError
from core.schemas import FileUploaded

router = APIRouter(prefix="/files", tags=["files"], responses=ERROR_RESPONSES)


class FileUpload(BaseModel):
    """The multipart body of an upload; named so the OpenAPI (and generated clients) show a clean schema."""

    # `format: binary` is what client generators read as a file part (they ignore `contentMediaType`).
    file: Annotated[UploadFile, Field(description="The file; its content type is kept.", json_schema_extra={"format": "binary"})]


@router.post("", status_code=201, operation_id="upload_file", summary="Upload an input file")
async def upload_file(body: Annotated[FileUpload, File()], platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> FileUploaded:
    """Stores the file by its SHA-256; use the returned `ref` as an input in requests."""
    file = body.file
    limit = platform.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(f"The file is above the limit of {limit} bytes ({platform.settings.max_upload_mb} MB).")
    content_type = (file.content_type or "application/octet-stream").split(";")[0].strip()[:100]
    info = await platform.inputs.store_bytes(data, content_type)
    await keep_blobs(platform, [info.ref])
    url = platform.signer.url(platform.settings.public_url or base_url, info.ref)
    return FileUploaded(ref=info.ref, url=url, content_type=info.content_type, size=info.size)


@router.get(
    "/{ref}",
    operation_id="download_file",
    summary="Download a file by signed URL",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
async def download_file(
    ref: str,
    platform: PlatformDep,
    expires: Annotated[int, Query(ge=0, le=2**42)],
    sig: Annotated[str, Query(max_length=128)],
    filename: Annotated[
        str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="The name to save as (signed with the URL).")
    ] = None,
) -> StreamingResponse:
    """Needs no API key: the signature and expiry in the URL are the permission."""
    platform.signer.check(ref, expires, sig, filename)
    # Streamed through the api in chunks (no redirect to the store): clients need not reach it.
    info, chunks = await asyncio.to_thread(platform.blobs.open, ref)
    headers = {"Cache-Control": "private, max-age=3600", "Content-Length": str(info.size)}
    if filename is not None:
        # Sequence frames download as <task id>.<frame>.<ext>, the names a Nuke Read node expects.
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
    # A sync iterator: Starlette reads each chunk in its thread pool, off the event loop.
    return StreamingResponse(chunks, media_type=info.content_type, headers=headers)
