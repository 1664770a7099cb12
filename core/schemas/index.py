"""`GET /api`: where a new user starts."""

from pydantic import BaseModel, Field

from core.schemas.common import Domain


class DomainLinks(BaseModel):
    models: str = Field(description="GET: the domain's models; `available` says which run here.")
    submit: str = Field(description="POST: submit a task; GET <submit>/{id} polls it, <submit>/{id}/events streams it.")


class ApiIndex(BaseModel):
    """Links to everything else; needs no key."""

    name: str
    version: str
    docs: str = Field(description="Swagger UI, with an example body for every request.")
    openapi: str = Field(description="The OpenAPI document.")
    files: str = Field(description="POST: upload an input file; use its `ref` in requests.")
    domains: dict[Domain, DomainLinks]
    healthz: str
    readyz: str
