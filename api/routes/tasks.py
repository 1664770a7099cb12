"""The same five routes for every domain; one factory instead of four copies."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from api import tasks
from api.deps import KEY_SECURITY, BaseUrl, CurrentKey, PlatformDep, SubmitKey, platform_of
from api.errors import ERROR_RESPONSES
from core.errors import InvalidRequestError
from core.schemas import REQUEST_EXAMPLES, Domain, ModelInfo, TaskCreated, TaskRecord

SINGULAR = {Domain.images: "image", Domain.texts: "text", Domain.videos: "video", Domain.workflows: "workflow"}


@dataclass(frozen=True)
class OptionalHeader:
    """An optional header of the submit route, read from the request and documented in the
    route's OpenAPI parameters as FastAPI documents a `Header()`: the submit is the hot path, and
    FastAPI validates each declared parameter through pydantic on every request (its two headers
    were a twentieth of a submit's CPU)."""

    name: str
    description: str
    max_length: int = 200

    def read(self, request: Request) -> str | None:
        value = request.headers.get(self.name)
        if value is not None and len(value) > self.max_length:
            raise InvalidRequestError(f"The {self.name} header is {len(value)} characters long; send at most {self.max_length}.")
        return value

    def openapi(self) -> dict[str, Any]:
        schema = {"anyOf": [{"type": "string", "maxLength": self.max_length}, {"type": "null"}], "description": self.description, "title": self.name}
        return {"name": self.name.lower(), "in": "header", "required": False, "schema": schema, "description": self.description}


IDEMPOTENCY_KEY = OptionalHeader("Idempotency-Key", "Retrying with the same key and body returns the same task.")
PREFER = OptionalHeader(
    "Prefer", "`wait=N` (N ≤ 60): answer 200 with the finished record if the task ends within N seconds, else 202 as usual."
)


def domain_router(domain: Domain, request_type: type[BaseModel]) -> APIRouter:
    router = APIRouter(prefix=f"/{domain.value}", tags=[domain.value], responses=ERROR_RESPONSES)
    one = SINGULAR[domain]
    a_task = f"{'an' if one[0] in 'aeiou' else 'a'} {one} task"
    body_type = Annotated[request_type, Body(openapi_examples=REQUEST_EXAMPLES[domain])]  # type: ignore[valid-type]

    @router.get(
        "/models",
        operation_id=f"list_{one}_models",
        summary=f"List {one} models",
        description="Every catalogue entry of the domain; `available` says whether a live worker can run it here.",
    )
    async def list_models(platform: PlatformDep, key: CurrentKey) -> list[ModelInfo]:
        return await tasks.list_models(platform, domain)

    @router.post(
        "",
        status_code=202,
        operation_id=f"create_{one}",
        summary=f"Submit {a_task}",
        description=f"Answers at once with the task id (and a `Location` header); poll GET /api/{domain.value}/{{id}} or stream "
        f"its events, or send `Prefer: wait=N` to get the finished record in this answer when it ends within N seconds. "
        f"Pick an example below: the first needs nothing, the others say what to upload first.",
        response_model=TaskCreated,
        responses={200: {"model": TaskRecord, "description": "With `Prefer: wait=N`: the task ended within N seconds; its record."}},
        openapi_extra={"security": KEY_SECURITY, "parameters": [IDEMPOTENCY_KEY.openapi(), PREFER.openapi()]},
    )
    async def create(body: body_type, request: Request, key: SubmitKey) -> Response:  # type: ignore[valid-type]
        # The platform, the key and the headers read here, not solved as dependencies and parameters
        # (see OptionalHeader and submit_principal), and the answer serialised here: FastAPI would
        # validate it against response_model again (which stays, for the OpenAPI document).
        platform = platform_of(request)
        created = await tasks.submit(platform, domain, body, key, IDEMPOTENCY_KEY.read(request))
        headers = {"Location": f"/api/{domain.value}/{created.id}"}
        wait_s = tasks.preferred_wait(PREFER.read(request))
        ended = None
        if wait_s is not None:
            headers["Preference-Applied"] = f"wait={wait_s}"
            ended = await tasks.wait_for_end(platform, created.id, wait_s)
        if ended is None:
            return Response(created.model_dump_json(), status_code=202, headers=headers, media_type="application/json")
        return Response(tasks.render(platform, ended, str(request.base_url)).model_dump_json(), headers=headers, media_type="application/json")

    @router.get(
        "/{task_id}",
        operation_id=f"get_{one}",
        summary=f"Get {a_task}",
        description="The task record: status, queue position, progress, and once succeeded its outputs with signed download URLs.",
    )
    async def get(task_id: str, platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> TaskRecord:
        task = await tasks.get_owned(platform, domain, task_id, key)
        return tasks.render(platform, task, base_url)

    @router.delete("/{task_id}", operation_id=f"cancel_{one}", summary=f"Cancel {a_task}")
    async def cancel(task_id: str, platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> TaskRecord:
        """A queued task never runs; a running one stops at its next step."""
        task = await tasks.cancel(platform, domain, task_id, key)
        return tasks.render(platform, task, base_url)

    @router.get(
        "/{task_id}/events",
        operation_id=f"stream_{one}_events",
        summary=f"Stream {a_task}'s changes",
        description="Server-Sent Events: the record on every change (progress, preview, status), closed after a terminal status.",
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events; each `data` is the task record."}},
    )
    async def events(task_id: str, platform: PlatformDep, key: CurrentKey, base_url: BaseUrl) -> EventSourceResponse:
        task = await tasks.get_owned(platform, domain, task_id, key)
        return EventSourceResponse(tasks.record_events(platform, task, base_url), ping=10)

    return router
