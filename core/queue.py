"""The Celery app both sides share: broker settings, reliability options, task names.

The api enqueues by task name (it never imports worker code); messages carry only the task
id, since the worker re-reads the request from the task record.
"""

from celery import Celery

from core.schemas import Domain, Queue
from core.settings import Settings

TASK_NAMES: dict[Domain, str] = {
    Domain.images: "images.generate",
    Domain.texts: "texts.generate",
    Domain.videos: "videos.generate",
    Domain.workflows: "workflows.run",
}


def make_celery(settings: Settings) -> Celery:
    app = Celery("ddiffusion", broker=settings.redis_url_or_raise(), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=Queue.cpu.value,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            # Sweep for messages of lost workers every few seconds, not kombu's default ~100 s.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )
    return app


def enqueue(app: Celery, domain: Domain, queue: Queue, task_id: str) -> None:
    """Publish the small message {task_id}; blocking, so the api calls it off the event loop."""
    app.send_task(TASK_NAMES[domain], args=[task_id], queue=queue.value, task_id=task_id)
