"""Logging set up once per process: every line (ours, Celery's, uvicorn's) goes through
structlog and comes out as one JSON object, or a plain line for people. Context bound per
task (task_id, model, queue) is merged into every line logged while it runs."""

import logging

import structlog

SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _celery_task_id(logger: object, method: str, event: dict) -> dict:
    """Celery logs task events with the task's id in the record's args; lift it to task_id."""
    args = event.pop("positional_args", None)
    if isinstance(args, dict) and "id" in args:
        event.setdefault("task_id", args["id"])
    return event


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*SHARED, _celery_task_id],
            pass_foreign_args=True,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
