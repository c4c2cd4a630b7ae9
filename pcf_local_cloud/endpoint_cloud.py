"""``EndpointCloud``: what the deployment helpers need from a ``LocalCloud``, for a moto server at a URL.

``deploy_chalice_app``, ``deploy_control_plane`` and ``LocalDeployment`` use four members of a cloud:
``client(service)``, ``register_handler(name, handler)``, ``clock`` and ``account_id``. This adapter gives
them for a moto server: clients on fake credentials pointed at its endpoint, and handler registration into
the patch set installed in the server's own process (``lambdas``; absent in any other process).
"""

from __future__ import annotations

from typing import Any

from pcf.util.aws.clients import ClientFactory
from pcf_local_cloud.clock import Clock, RealClock
from pcf_local_cloud.lambda_dispatch import LambdaDispatch, LambdaHandler
from pcf_local_cloud.server_state import endpoint_client_factory

DEFAULT_ACCOUNT_ID = "123456789012"


class EndpointCloud:
    """A moto server at ``endpoint`` seen as a local cloud.

    Args:
        endpoint: the server's URL (``http://127.0.0.1:PORT``).
        region: the region of clients whose caller names none.
        account_id: moto's account the requests land in (the default account: no header is sent).
        clock: the server's clock (real time).
        lambdas: the Lambda handler registry of the patches installed in this process, when this process is
            the server; ``register_handler`` needs it.
    """

    def __init__(
        self,
        endpoint: str,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT_ID,
        clock: Clock | None = None,
        lambdas: LambdaDispatch | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.account_id = account_id
        self.clock: Clock = clock if clock is not None else RealClock()
        self._lambdas = lambdas
        self.client_factory: ClientFactory = endpoint_client_factory(endpoint, region)

    def client(self, service: str, region_name: str | None = None) -> Any:
        """A cached boto3 client for ``service`` that calls the server."""
        return self.client_factory.client(service, region_name)

    def register_handler(self, function_name: str, handler: LambdaHandler) -> None:
        """Run ``handler`` in the server process when ``function_name`` is invoked (in the server only)."""
        if self._lambdas is None:
            raise RuntimeError(
                "Lambda handlers run inside the local-cloud server process; register them there "
                "(this EndpointCloud has no patch set)"
            )
        self._lambdas.register(function_name, handler)

    def __repr__(self) -> str:
        return f"EndpointCloud({self.endpoint!r}, region={self.region!r})"
