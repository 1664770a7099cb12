"""The bench's reporting: a failing measurement becomes an error entry beside the others, and
every such entry is found, however deep, so the run exits non-zero."""

from bench.report import attempt, errors


def fail() -> dict[str, float]:
    raise KeyError("txt2img")


def test_a_failing_measurement_is_an_error_entry_under_its_name() -> None:
    assert attempt("tiny-flux-fill", fail) == {"tiny-flux-fill": {"error": "KeyError: 'txt2img'"}}
    assert attempt("tiny-sd", lambda: {"tiny-sd": {"load_s": 0.1}}) == {"tiny-sd": {"load_s": 0.1}}


def test_errors_are_found_at_any_depth_and_only_as_error_keys() -> None:
    results = {
        "submit_rps": 1000.0,
        "faults": {"redis_restart": {"error": "TimeoutError: …"}, "rerun_error": None},
        "engines": {"tiny-sd": {"modes": {"inpaint": {"error": "boom"}, "txt2img": {"step_ms": 1.0}}}},
    }
    assert errors(results) == ["faults.redis_restart", "engines.tiny-sd.modes.inpaint"]
    assert errors({"submit_rps": 1000.0, "faults": {"rerun_error": None}}) == []
