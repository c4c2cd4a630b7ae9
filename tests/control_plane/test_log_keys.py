"""Correlation ids on the app's log lines: each invocation's own, in its own thread, and the caller's back
after a handler runs inside another (the local cloud delivers an EC2 event inside the call that caused it)."""

from __future__ import annotations

import threading

import app as chalice_app
from tests.support.logs import captured_log_lines

logger = chalice_app.logger


def test_a_nested_invocation_gives_the_callers_keys_back() -> None:
    with captured_log_lines() as lines:
        with chalice_app.log_keys("apply-run-1", pcf_id="ec2_instance:master"):
            logger.info("before")
            with chalice_app.log_keys("event-7"):
                logger.info("inside")
            logger.info("after")
        logger.info("outside")

    seen = {line["message"]: (line.get("correlation_id"), line.get("pcf_id")) for line in lines}
    assert seen == {"before": ("apply-run-1", "ec2_instance:master"), "inside": ("event-7", None),
                    "after": ("apply-run-1", "ec2_instance:master"), "outside": (None, None)}


def test_invocations_side_by_side_in_threads_keep_their_own_keys() -> None:
    both_set = threading.Barrier(2, timeout=10)

    def invocation(name: str) -> None:
        with chalice_app.log_keys(f"run-{name}", pcf_id=f"ec2_instance:{name}"):
            both_set.wait()  # each has set its keys before either logs
            logger.info(name)

    with captured_log_lines() as lines:
        threads = [threading.Thread(target=invocation, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted((line["message"], line["correlation_id"], line["pcf_id"]) for line in lines) == [
        ("a", "run-a", "ec2_instance:a"), ("b", "run-b", "ec2_instance:b")]
