"""All routers, assembled in one place."""

from fastapi import APIRouter

from api.routes import admin, batches, files, history, tasks, usage
from core.schemas import REQUEST_TYPES

api_router = APIRouter(prefix="/api")
for domain, request_type in REQUEST_TYPES.items():
    api_router.include_router(tasks.domain_router(domain, request_type))
api_router.include_router(batches.router)
api_router.include_router(history.router)
api_router.include_router(files.router)
api_router.include_router(admin.router)
api_router.include_router(usage.router)
