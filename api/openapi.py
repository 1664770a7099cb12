"""`python -m api.openapi` prints the app's OpenAPI document (what openapi.json must equal)."""

import json

from api.main import create_app
from core.settings import Settings


def openapi_document() -> dict:
    # Only the routes and schemas matter here; no connection is made.
    settings = Settings(redis_url="redis://127.0.0.1:1/0", admin_key="unused", secret_key="unused", _env_file=None)
    return create_app(settings).openapi()


if __name__ == "__main__":
    print(json.dumps(openapi_document(), indent=2, sort_keys=False))
