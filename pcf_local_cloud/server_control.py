"""The server's control endpoint: what only the server process can do for its clients, beside moto's API.

``POST /settle?timeout=S`` waits until the server's cloud is quiet (``quiescence.wait_until_quiet``: what is due
settled, no event delivery in flight, no execution running) and answers ``200 {"settled": n,
"executions_waited_for": m}``, or ``504 {"error": ...}`` when ``S`` seconds (default 60) were not enough. Anything
else is ``404``. It listens on 127.0.0.1 only, on a port of its own (``ServerInfo.control_endpoint``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pcf_local_cloud.quiescence import NotQuiet, Quiet

DEFAULT_SETTLE_SECONDS = 60.0
SETTLE_PATH = "/settle"

log = logging.getLogger("pcf_local_cloud.server")

Settle = Callable[[float], Quiet]
"""``settle(timeout_s)``: wait until the cloud is quiet."""


class ControlServer:
    """The endpoint of the module docstring, served on a daemon thread until :meth:`stop`."""

    def __init__(self, settle: Settle, host: str = "127.0.0.1", port: int = 0) -> None:
        self._http = ThreadingHTTPServer((host, port), _handler_for(settle))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="pcf-local-control", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _handler_for(settle: Settle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlsplit(self.path)
            if url.path != SETTLE_PATH:
                self._answer(404, {"error": f"no such endpoint: {url.path}"})
                return
            try:
                timeout_s = float(parse_qs(url.query).get("timeout", [DEFAULT_SETTLE_SECONDS])[0])
            except ValueError:
                self._answer(400, {"error": "timeout must be a number of seconds"})
                return
            try:
                quiet = settle(timeout_s)
            except NotQuiet as late:
                self._answer(504, {"error": str(late)})
                return
            self._answer(200, {"settled": quiet.settled, "executions_waited_for": quiet.executions_waited_for})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("control: " + format, *args)

    return Handler
