"""API keys: `dd_<id>_<secret>`, stored as a salted SHA-256 of the secret, looked up by id.

The secrets are 256 random bits, so a fast salted hash is enough (a slow KDF guards
low-entropy passwords, and would cost every request). Comparisons are constant-time.

Verified keys are cached per api process, saving a Redis round trip per request. Revocation
deletes the record and publishes the id; every api process drops it from its cache on that
message, and drops its whole cache whenever its subscription breaks, so a revoked key is
refused within moments everywhere.
"""

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import redis.asyncio
import structlog

from core.schemas import ApiKeyCreated, ApiKeyInfo, Priority

KEYS_INDEX = "dd:keys"
REVOKED_CHANNEL = "dd:keys:revoked"
REVOCATION_WAIT_S = 1
ADMIN_ID = "admin"
CACHE_SIZE = 10_000
log = structlog.get_logger("api")


def key_record(key_id: str) -> str:
    return f"dd:key:{key_id}"


def hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's id, or the admin."""

    id: str
    is_admin: bool


class KeyStore:
    def __init__(self, client: redis.asyncio.Redis, admin_key: str) -> None:
        self.client = client
        self._admin_digest = hashlib.sha256(admin_key.encode()).digest()
        self._verified: OrderedDict[str, tuple[str, str]] = OrderedDict()  # id → (salt, hash)

    async def create(self, name: str, max_priority: Priority = Priority.interactive) -> ApiKeyCreated:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        created_at = time.time()
        async with self.client.pipeline(transaction=True) as pipe:
            record = {"name": name, "salt": salt, "hash": hash_secret(salt, secret), "created_at": created_at, "max_priority": max_priority.value}
            pipe.hset(key_record(key_id), mapping=record)
            pipe.zadd(KEYS_INDEX, {key_id: created_at})
            await pipe.execute()
        return ApiKeyCreated(id=key_id, name=name, key=f"dd_{key_id}_{secret}", created_at=created_at, max_priority=max_priority)

    async def list(self) -> list[ApiKeyInfo]:
        ids = await self.client.zrange(KEYS_INDEX, 0, -1)
        async with self.client.pipeline(transaction=False) as pipe:
            for key_id in ids:
                pipe.hmget(key_record(key_id), "name", "created_at", "max_priority")
            rows = await pipe.execute()
        return [
            ApiKeyInfo(id=key_id, name=name, created_at=float(created), max_priority=cap or Priority.interactive)
            for key_id, (name, created, cap) in zip(ids, rows, strict=True)
            if name
        ]

    async def exists(self, key_id: str) -> bool:
        """A key that was created and not revoked."""
        return bool(await self.client.exists(key_record(key_id)))

    async def set_max_priority(self, key_id: str, cap: Priority) -> None:
        """Submits check the cap in their admission step, so it holds from the next one."""
        await self.client.hset(key_record(key_id), "max_priority", cap.value)

    async def revoke(self, key_id: str) -> bool:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(key_record(key_id))
            pipe.zrem(KEYS_INDEX, key_id)
            pipe.publish(REVOKED_CHANNEL, key_id)
            deleted, *_ = await pipe.execute()
        self._verified.pop(key_id, None)
        return bool(deleted)

    async def follow_revocations(self, stop: asyncio.Event) -> None:
        """Keep the cache honest until `stop` is set (a cancel alone can be swallowed inside a
        Redis call, and this loop would then go on forever)."""
        while not stop.is_set():
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(REVOKED_CHANNEL)
                    self._verified.clear()  # anything revoked while we were not listening
                    while not stop.is_set():
                        # Short bounded waits, not listen(): the client's socket timeout would cut a
                        # blocking read, and `stop` is seen within a wait.
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=REVOCATION_WAIT_S)
                        if message is not None:
                            self._verified.pop(message["data"], None)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._verified.clear()
                log.warning("key revocation feed lost; cache cleared, resubscribing")
                await asyncio.sleep(1)

    async def authenticate(self, presented: str) -> Principal | None:
        if hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self._admin_digest):
            return Principal(id=ADMIN_ID, is_admin=True)
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != "dd" or not parts[1]:
            return None
        _, key_id, secret = parts
        stored = self._verified.get(key_id)
        if stored is None:
            salt, digest = await self.client.hmget(key_record(key_id), "salt", "hash")
            if salt is None:
                return None
            stored = (salt, digest)
        salt, digest = stored
        if not hmac.compare_digest(hash_secret(salt, secret).encode(), digest.encode()):
            return None
        self._verified[key_id] = stored
        self._verified.move_to_end(key_id)
        if len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)
        return Principal(id=key_id, is_admin=False)
