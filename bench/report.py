"""How the bench reports: a measurement that fails becomes `{"error": ...}` in the JSON, beside
the figures that did come in, and any such entry makes the run exit non-zero."""

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

STARTED = time.monotonic()


def say(message: str) -> None:
    """Progress for the person watching (stderr, with seconds since start): stdout carries only the JSON."""
    print(f"bench [{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def attempt(name: str, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The figures of `measure`, or `{name: {"error": ...}}` when it raises (trace on stderr)."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001 - reported in the JSON, and the run exits non-zero
        traceback.print_exc()
        return {name: {"error": f"{type(exc).__name__}: {exc}"[:500]}}


def errors(figures: Any, path: str = "") -> list[str]:
    """Where the `error` entries are, as dotted paths."""
    if not isinstance(figures, dict):
        return []
    found = [path or "."] if "error" in figures else []
    return found + [where for key, value in figures.items() for where in errors(value, f"{path}.{key}".lstrip("."))]
