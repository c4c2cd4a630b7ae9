"""Throttling faults: a share of requests answered with the service's own throttling error.

Injected at the AWS API boundary: a ``before-send`` hook (registered first, ahead of moto's) answers the
request with the HTTP response AWS gives when it throttles, and moto leaves a request so answered alone
(``moto_private.moto_answers_unanswered``: botocore calls every ``before-send`` handler, moto's too, whatever the
first answered), so a throttled request changes nothing, as on AWS, and botocore parses, classifies and retries
it exactly as a real throttle (standard retry mode, its backoff on the local
cloud's clock). Off (rate 0) until :meth:`ThrottlingFaults.configure` turns it on.

The hook goes on the clients of the cloud's ``ClientFactory`` and on those moto's Step Functions interpreter makes
for its states (Lambda invocations, ``aws-sdk`` integrations, ``states:startExecution``): those keep moto's
``max_attempts 0``, as Step Functions itself does not retry; the state fails with the integration's error name
(``Lambda.TooManyRequestsException``, ``DynamoDb.ThrottlingException``, ``StepFunctions.ThrottlingException``: see
``sfn_integration``) and only the ASL's ``Retry`` retries it.

Not throttled: the ``DescribeExecution`` checks moto makes to follow a ``.sync`` child. On AWS, Step Functions
follows the child itself (its managed EventBridge rule and its own polling); no AWS page documents a ``.sync``
task failing because that following was throttled, only ``StartExecution`` itself can be. Throttling those checks
would fail a ``RunPage`` whose child is running, and its retry would start a second child of the same page.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import threading
import uuid
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse

from pcf_local_cloud.moto_private import making_sync_check_client


@dataclass(frozen=True)
class Throttle:
    """The HTTP response a service answers when it throttles a request."""

    status: int
    headers: Mapping[str, str]
    body: bytes


# boto3 service name -> the throttling answer its API reference documents
_THROTTLES: dict[str, Throttle] = {
    # EC2 API Reference, "Error codes": RequestLimitExceeded, HTTP 503.
    "ec2": Throttle(503, {"Content-Type": "text/xml"}, (
        b"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>local-throttle</RequestID></Response>"
    )),
    # DynamoDB API Reference, "Common errors": ThrottlingException, HTTP 400.
    "dynamodb": Throttle(400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps({
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate of requests exceeds the allowed throughput.",
    }).encode()),
    # Step Functions API Reference, "Common errors": ThrottlingException, HTTP 400
    # (https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html).
    "stepfunctions": Throttle(400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps({
        "__type": "ThrottlingException",
        "message": "Rate exceeded",
    }).encode()),
    # Lambda API Reference, Invoke, "Errors": TooManyRequestsException, HTTP 429
    # (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
    "lambda": Throttle(429, {"Content-Type": "application/json", "x-amzn-ErrorType": "TooManyRequestsException",
                             "Retry-After": "1"}, json.dumps({
        "Type": "User",
        "message": "Rate Exceeded.",
        "Reason": "CallerRateLimitExceeded",
    }).encode()),
}
KNOWN_SERVICES = tuple(_THROTTLES)
SERVICES = ("ec2", "dynamodb")
"""What :meth:`ThrottlingFaults.configure` throttles unless told otherwise."""


def draws(seed: int | None, service: str) -> random.Random:
    """The draws that decide which of ``service``'s requests are throttled: one stream per service, so which of a
    service's requests are throttled does not depend on how its calls interleave with other services' calls
    (``seed`` ``None``: not reproducible)."""
    return random.Random() if seed is None else random.Random(f"{seed}:{service}")


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
        self._draws: dict[str, random.Random] = {}
        self.injected: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self._observer = threading.local()
        self._answered: weakref.WeakSet[Any] = weakref.WeakSet()

    def configure(self, rate: float, services: Iterable[str] = SERVICES, seed: int | None = 0) -> None:
        """Throttle ``rate`` (0..1) of the requests to ``services`` (boto3 names, of :data:`KNOWN_SERVICES`) from
        now on, drawn per service (:func:`draws`); counters restart."""
        chosen = frozenset(services)
        unknown = sorted(chosen - set(_THROTTLES))
        if unknown:
            raise ValueError(f"no throttling response known for {unknown}; known: {sorted(_THROTTLES)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {rate}")
        with self._lock:
            self.rate, self.services = rate, chosen
            self._draws = {service: draws(seed, service) for service in chosen}
            self.injected.clear()
            self.requests.clear()

    def off(self) -> None:
        """Stop throttling, keeping the counters."""
        with self._lock:
            self.rate = 0.0

    @contextlib.contextmanager
    def unthrottled(self) -> Iterator[None]:
        """Requests the calling thread makes inside the block are neither counted nor throttled: those of an
        observer (a test or benchmark following an execution), not of the system it observes."""
        self._observer.active = True
        try:
            yield
        finally:
            self._observer.active = False

    def attach(self, client: Any) -> None:
        """Register on ``client`` ahead of every other ``before-send`` handler (moto's included); once per client."""
        service = client.meta.service_model.service_name
        if service in _THROTTLES:
            client.meta.events.register_first(f"before-send.{client.meta.service_model.service_id.hyphenize()}",
                                              functools.partial(self._before_send, service=service),
                                              unique_id=f"pcf-local-cloud-throttle-{service}")

    def observe_interpreter_client(self, client: Any, state_credentials: Any = None) -> None:
        """What the interpreter-client hook calls for each client a state makes: :meth:`attach`, except on the
        client that follows a ``.sync`` child execution (see the module docstring)."""
        if not making_sync_check_client():
            self.attach(client)

    def answered(self, request: Any) -> bool:
        """Whether this request was answered with a throttle (then nothing else may carry it out)."""
        with self._lock:
            return request in self._answered

    def _before_send(self, request: Any, service: str, **_: Any) -> AWSResponse | None:
        with self._lock:
            if service not in self.services or getattr(self._observer, "active", False):
                return None
            self.requests[service] += 1
            if self._draws[service].random() >= self.rate:
                return None
            self.injected[service] += 1
            self._answered.add(request)
        throttle = _THROTTLES[service]
        headers = {**throttle.headers, "x-amzn-RequestId": str(uuid.uuid4())}  # every AWS JSON answer carries one
        return AWSResponse(request.url, throttle.status, headers, _Raw(throttle.body))
