import json
from pathlib import Path

from core.queue import broker_list, make_celery, task_message
from core.schemas import Domain, Priority, Queue
from tests.utils.platform import RedisServer, make_settings


def test_task_message_matches_what_celery_send_task_pushes(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        app = make_celery(make_settings(server.url, tmp_path, tmp_path))
        app.send_task("images.generate", args=["t-1"], queue="gpu", task_id="t-1", ignore_result=True, priority=3)
        [sent] = server.client().lrange(broker_list("gpu", Priority.normal), 0, -1)  # kombu's list for priority 3
        ours, celery = json.loads(task_message(app, Domain.images, Queue.gpu, "t-1", Priority.normal)), json.loads(sent)
    finally:
        server.stop()
    volatile = {"delivery_tag", "reply_to"}
    assert {k: v for k, v in ours["properties"].items() if k not in volatile} == {k: v for k, v in celery["properties"].items() if k not in volatile}
    assert ours["headers"] == celery["headers"] | {"ignore_result": True}
    assert (ours["body"], ours["content-type"], ours["content-encoding"]) == (celery["body"], celery["content-type"], celery["content-encoding"])
    assert len(task_message(app, Domain.images, Queue.gpu, "0" * 32, Priority.batch)) < 1024
