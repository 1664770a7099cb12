"""All routers, assembled in one place."""

from fastapi import APIRouter

from api.routes import admin, batches, files, history, tasks, usage
from core.schemas import REQUEST_TYPES

# Included one by one under /api rather than through one /api router: FastAPI walks every level of
# included routers on each request, and the extra level cost every submit a few percent.
API_PREFIX = "/api"
API_ROUTERS: list[APIRouter] = [
    *(tasks.domain_router(domain, request_type) for domain, request_type in REQUEST_TYPES.items()),
    batches.router,
    history.router,
    files.router,
    admin.router,
    usage.router,
]
