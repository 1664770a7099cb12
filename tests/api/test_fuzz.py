"""Schemathesis over the whole OpenAPI: generated requests (valid and not) never get a 5xx."""

import asyncio
import atexit
import shutil
import tempfile
from pathlib import Path

import redis.asyncio
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from api.keys import KeyStore
from api.main import create_app
from tests.utils.platform import ADMIN_KEY, RedisServer, make_settings

# Its own Redis with no workers behind it, so fuzzed submits stay queued and cost nothing.
_data = Path(tempfile.mkdtemp(prefix="fuzz-"))
_redis = RedisServer(_data / "redis").start()
atexit.register(shutil.rmtree, _data, ignore_errors=True)
atexit.register(_redis.stop)  # atexit runs last-registered first: stop Redis, then remove its files
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(make_settings(_redis.url, _data, _data / "models", max_upload_mb=1)))


async def _create_user_key() -> str:
    client = redis.asyncio.from_url(_redis.url, decode_responses=True)
    created = await KeyStore(client, ADMIN_KEY).create("fuzz")
    await client.aclose()
    return created.key


USER_KEY = asyncio.run(_create_user_key())


# /readyz answers 503 by design here: this Redis has no workers.
@schema.exclude(path="/readyz").parametrize()
@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    key = ADMIN_KEY if case.path.startswith("/api/admin") else USER_KEY
    case.call_and_validate(headers={"X-API-Key": key}, checks=[not_a_server_error])
