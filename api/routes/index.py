"""`GET /api`: a small index of where to go next; no key needed."""

from fastapi import APIRouter, Request

from core.schemas import ApiIndex, Domain, DomainLinks

router = APIRouter(tags=["ops"])


@router.get("/api", operation_id="api_index", summary="Index of the API's entry points")
async def api_index(request: Request) -> ApiIndex:
    """Links to the docs, the OpenAPI, each domain's models and submit route, and the health checks."""
    app = request.app
    return ApiIndex(
        name=app.title,
        version=app.version,
        docs="/docs",
        openapi=app.openapi_url or "/openapi.json",
        files="/api/files",
        domains={domain: DomainLinks(models=f"/api/{domain.value}/models", submit=f"/api/{domain.value}") for domain in Domain},
        healthz="/healthz",
        readyz="/readyz",
    )
