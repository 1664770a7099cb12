"""Webhooks at submit: a request's webhook is checked here (allowed host, a secret to sign
with); api/deliveries.py sends them."""

import base64
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from api.keys import Principal
from core.errors import InvalidRequestError
from core.schemas import WebhookSpec

if TYPE_CHECKING:  # api.tasks checks webhooks at submit with this module
    from api.tasks import Platform


def secret_key(key_id: str) -> str:
    return f"dd:whsec:{key_id}"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1].lower()


def host_allowed(platform: "Platform", url: str) -> bool:
    host = host_of(url)
    allowed = {entry.lower() for entry in platform.settings.webhook_allowed_hosts}
    return host in allowed or host.split(":")[0] in allowed


async def check(platform: "Platform", spec: WebhookSpec | None, principal: Principal, for_batch: bool) -> dict[str, Any] | None:
    """The webhook as the record keeps it, or a 422 saying what to change."""
    if spec is None:
        return None
    if not for_batch and "batch_completed" in spec.events:
        raise InvalidRequestError("webhook.events: batch_completed is for batches (POST /api/batches); drop it here.")
    if not platform.settings.webhook_allowed_hosts:
        raise InvalidRequestError("webhooks are off on this platform: the admin lists the hosts they may go to in DDIFFUSION_WEBHOOK_ALLOWED_HOSTS.")
    if not host_allowed(platform, spec.url):
        raise InvalidRequestError(
            f"webhook.url: {host_of(spec.url)} is not a host webhooks may go to (DDIFFUSION_WEBHOOK_ALLOWED_HOSTS); ask the admin to add it."
        )
    if not await platform.redis.exists(secret_key(principal.id)):
        raise InvalidRequestError(
            "this key has no webhook secret to sign with: the admin creates one with POST /api/admin/keys/{id}/webhook-secret."
        )
    return spec.model_dump()


