"""The Celery app both sides share: broker settings, reliability options, task names.

The api enqueues by task name (it never imports worker code); messages carry only the task
id, since the worker re-reads the request from the task record.
"""

import base64
import uuid

from celery import Celery
from kombu import serialization
from kombu.utils import json as kombu_json

from core.redis_client import celery_broker
from core.schemas import Domain, Queue
from core.settings import Settings

TASK_NAMES: dict[Domain, str] = {
    Domain.images: "images.generate",
    Domain.texts: "texts.generate",
    Domain.videos: "videos.generate",
    Domain.workflows: "workflows.run",
}


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


def task_message(app: Celery, domain: Domain, queue: Queue, task_id: str) -> str:
    """The broker message Celery's send_task would push for this task (protocol 2, JSON body,
    base64-encoded as kombu's Redis transport does), built with Celery's and kombu's own
    functions. The api pushes it in the same atomic Redis step that writes the record, so there
    is never a record without its message or a message without its record."""
    # The reprs given, so Celery need not build them with its (slow) saferepr on every submit.
    message = app.amqp.as_task_v2(task_id, TASK_NAMES[domain], args=[task_id], ignore_result=True, argsrepr=repr([task_id]), kwargsrepr="{}")
    content_type, content_encoding, body = serialization.dumps(message.body, serializer="json")
    properties = message.properties | {
        "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": queue.value},
        "priority": 0,
        "body_encoding": "base64",
        "delivery_tag": str(uuid.uuid4()),
    }
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": content_encoding,
        "content-type": content_type,
        "headers": message.headers,
        "properties": properties,
    }
    return kombu_json.dumps(envelope)


def broker_queue_key(queue: Queue) -> str:
    """The Redis list a queue's messages wait in (kombu names it after the queue)."""
    return queue.value
