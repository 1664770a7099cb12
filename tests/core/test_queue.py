import json
from pathlib import Path

from core.queue import broker_list, make_celery, task_message
from core.schemas import Domain, Priority, Queue
from tests.utils.platform import RedisServer, make_settings


def test_task_message_matches_what_celery_send_task_pushes(tmp_path: Path) -> None:
    """Each message is made from one template per domain: the second must carry its own id, not the first's."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        app = make_celery(make_settings(server.url, tmp_path, tmp_path))
        for task_id in ("t-1", "t-2"):
            app.send_task("images.generate", args=[task_id], queue="gpu", task_id=task_id, ignore_result=True, priority=3)
        sent = server.client().lrange(broker_list("gpu", Priority.normal), 0, -1)  # kombu's list for priority 3
        pairs = [(json.loads(task_message(app, Domain.images, Queue.gpu, task_id, Priority.normal)), json.loads(celery)) for task_id, celery in zip(("t-1", "t-2"), reversed(sent), strict=True)]
    finally:
        server.stop()
    volatile = {"delivery_tag", "reply_to"}
    for ours, celery in pairs:
        assert {k: v for k, v in ours["properties"].items() if k not in volatile} == {k: v for k, v in celery["properties"].items() if k not in volatile}
        assert ours["headers"] == celery["headers"] | {"ignore_result": True}
        assert (ours["body"], ours["content-type"], ours["content-encoding"]) == (celery["body"], celery["content-type"], celery["content-encoding"])
    assert pairs[1][0]["headers"]["id"] == "t-2"
    assert len(task_message(app, Domain.images, Queue.gpu, "0" * 32, Priority.batch)) < 1024
