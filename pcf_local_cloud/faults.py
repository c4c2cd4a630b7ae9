"""Throttling faults: a share of requests answered with the service's own throttling error.

Injected at the AWS API boundary: a ``before-send`` hook (registered first, ahead of moto's) answers the
request with the HTTP response AWS gives when it throttles, so the request never reaches moto and botocore
parses, classifies and retries it exactly as a real throttle (standard retry mode, its backoff on the local
cloud's clock). Off (rate 0) until :meth:`ThrottlingFaults.configure` turns it on.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

# service id (hyphenized, as in event names) -> (HTTP status, content type, body)
_THROTTLES: dict[str, tuple[int, str, bytes]] = {
    "ec2": (503, "text/xml", (
        b"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>local-throttle</RequestID></Response>"
    )),
    "dynamodb": (400, "application/x-amz-json-1.0", json.dumps({
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate of requests exceeds the allowed throughput.",
    }).encode()),
}
SERVICES = tuple(_THROTTLES)


class _Raw:
    """The raw body botocore reads from an ``AWSResponse``."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class ThrottlingFaults:
    """Answers ``rate`` of the requests to ``services`` with a throttling error, reproducibly (``seed``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rate = 0.0
        self.services: frozenset[str] = frozenset()
        self._random = random.Random(0)
        self.injected: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()

    def configure(self, rate: float, services: Iterable[str] = SERVICES, seed: int | None = 0) -> None:
        """Throttle ``rate`` (0..1) of the requests to ``services`` from now on; counters restart."""
        chosen = frozenset(services)
        unknown = sorted(chosen - set(_THROTTLES))
        if unknown:
            raise ValueError(f"no throttling response known for {unknown}; known: {sorted(_THROTTLES)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {rate}")
        with self._lock:
            self.rate, self.services, self._random = rate, chosen, random.Random(seed)
            self.injected.clear()
            self.requests.clear()

    def attach(self, client: Any) -> None:
        """Register on ``client`` ahead of every other ``before-send`` handler (moto's included)."""
        service = client.meta.service_model.service_id.hyphenize()
        if service in _THROTTLES:
            client.meta.events.register_first(f"before-send.{service}", self._before_send)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        service = event_name.split(".")[1]
        with self._lock:
            if service not in self.services:
                return None
            self.requests[service] += 1
            if self._random.random() >= self.rate:
                return None
            self.injected[service] += 1
        status, content_type, body = _THROTTLES[service]
        return AWSResponse(request.url, status, {"Content-Type": content_type}, _Raw(body))
