"""The Celery app both sides share: broker settings, reliability options, task names.

The api enqueues by task name (it never imports worker code). A message is a turn to run, not
a particular task: it carries the id of the task it was made for, but the worker that takes it
runs whatever task is first in the order of the list's lane (core.records), so priorities and
fair turns are decided when a worker is free, not when a task was queued. Priorities use
Celery's own support on Redis: kombu keeps one list per priority step and each worker pops
the highest priority of all its queues first.
"""

import base64
import functools
import json
import random
from typing import Any

from celery import Celery

from core.redis_client import celery_broker
from core.schemas import Domain, Priority, Queue
from core.settings import Settings

TASK_NAMES: dict[Domain, str] = {
    Domain.images: "images.generate",
    Domain.texts: "texts.generate",
    Domain.videos: "videos.generate",
    Domain.workflows: "workflows.run",
}


# kombu's Redis priority steps are 0, 3, 6, 9 (0 popped first).
KOMBU_PRIORITY: dict[Priority, int] = {Priority.interactive: 0, Priority.normal: 3, Priority.batch: 6}
KOMBU_SEPARATOR = "\x06\x16"
PLACEHOLDER_ID = "<task id>"


def model_queue(model: str) -> str:
    """The lane of a gpu model's tasks waiting for a worker that holds it warm (core.affinity)."""
    return f"{Queue.gpu.value}.{model}"


def broker_list(lane: str, priority: Priority) -> str:
    """The Redis list kombu keeps a lane's messages of this priority in (its `_q_for_pri`)."""
    step = KOMBU_PRIORITY[priority]
    return f"{lane}{KOMBU_SEPARATOR}{step}" if step else lane


def broker_lists(lane: str) -> list[str]:
    """Every list of a lane, highest priority first."""
    return [broker_list(lane, priority) for priority in Priority]


def make_celery(settings: Settings) -> Celery:
    broker, transport_options = celery_broker(settings.redis_url_or_raise())
    app = Celery("ddiffusion", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=Queue.cpu.value,
        broker_transport_options=transport_options | {
            "visibility_timeout": settings.visibility_timeout_s,
            # Sweep for messages of lost workers every few seconds, not kombu's default ~100 s.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        # A Redis outage pauses the workers; they reconnect however long it lasts.
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        # A task running when the broker connection drops finishes and keeps its result (its
        # record writes retry until Redis is back); its lease, not the message, says it is alive.
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


@functools.lru_cache(maxsize=64)
def message_template(app: Celery, domain: Domain) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The headers, properties and body options of a domain's messages, built once by Celery's
    own as_task_v2 with a placeholder id: only the id differs between two messages, and building
    each from scratch cost a tenth of a submit."""
    message = app.amqp.as_task_v2(PLACEHOLDER_ID, TASK_NAMES[domain], args=[PLACEHOLDER_ID], ignore_result=True, argsrepr="", kwargsrepr="{}")
    _, _, options = message.body
    return message.headers, message.properties, options


def task_message(app: Celery, domain: Domain, lane: str, task_id: str, priority: Priority) -> str:
    """The broker message Celery's send_task would push for this task (protocol 2, JSON body,
    base64-encoded as kombu's Redis transport does), from Celery's own template of it; its
    routing key is the lane (a queue, or a model's queue of core.affinity), which tells the
    worker whose order to run from and kombu where to put it back. The api pushes it in the same
    atomic Redis step that writes the record, so there is never a record without its message."""
    headers, properties, options = message_template(app, domain)
    body = json.dumps([[task_id], {}, options])
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers | {"id": task_id, "root_id": task_id, "argsrepr": repr([task_id])},
        "properties": properties | {
            "correlation_id": task_id,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": lane},
            "priority": KOMBU_PRIORITY[priority],
            "body_encoding": "base64",
            # Unique, not secret: Python's generator, not uuid4's system call per message (a
            # measurable part of a submit on these VMs).
            "delivery_tag": f"{random.getrandbits(128):032x}",
        },
    }
    return json.dumps(envelope)  # json.dumps's spacing: core.affinity's RELEASE finds the routing key by it
