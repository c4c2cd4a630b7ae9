"""The Step Functions API answering for map-run child executions (moto knows none of them).

``DescribeExecution``, ``GetExecutionHistory`` and ``StopExecution`` of a child's ARN, and ``ListExecutions`` with
``mapRunArn`` (instead of ``stateMachineArn``: not both, API_ListExecutions), are answered from
:class:`~pcf_local_cloud.map_run_children.MapRunChildren`; every other call goes to moto's handler unchanged.
``ListExecutions`` pages as AWS does (``maxResults`` 1-1,000, default 100, then ``nextToken``); an unknown map run
is ``ResourceNotFound``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.stepfunctions.exceptions import InvalidToken, ResourceNotFound, ValidationException
from moto.stepfunctions.responses import StepFunctionResponse

from pcf_local_cloud.map_run_children import ChildExecution, MapRunChildren
from pcf_local_cloud.moto_private import request_param
from pcf_local_cloud.patchset import PatchSet

DEFAULT_PAGE = 100
MAX_PAGE = 1000
Handler = Callable[[Any], Any]


class MapRunApi:
    """Installs the answers of the module docstring on moto's Step Functions response handler."""

    def __init__(self, children: MapRunChildren) -> None:
        self.children = children

    def install(self, patches: PatchSet) -> None:
        for name, answer in (("describe_execution", self._describe), ("get_execution_history", self._history),
                             ("stop_execution", self._stop)):
            patches.replace(StepFunctionResponse, name, self._for_child(getattr(StepFunctionResponse, name), answer))
        patches.replace(StepFunctionResponse, "list_executions",
                        self._listing(StepFunctionResponse.list_executions))

    def _for_child(self, original: Handler, answer: Callable[[Any, ChildExecution], dict[str, Any]]) -> Handler:
        children = self.children

        def handle(response: Any) -> Any:
            child = children.get(request_param(response, "executionArn"))
            return original(response) if child is None else ActionResult(answer(response, child))

        handle.__doc__ = original.__doc__
        return handle

    @staticmethod
    def _describe(_response: Any, child: ChildExecution) -> dict[str, Any]:
        return child.description()

    @staticmethod
    def _history(_response: Any, child: ChildExecution) -> dict[str, Any]:
        return {"events": child.events()}

    @staticmethod
    def _stop(response: Any, child: ChildExecution) -> dict[str, Any]:
        return {"stopDate": child.stop(request_param(response, "error"), request_param(response, "cause"))}

    def _listing(self, original: Handler) -> Handler:
        children = self.children

        def list_executions(response: Any) -> Any:
            map_run_arn = request_param(response, "mapRunArn")
            if not map_run_arn:
                return original(response)
            if request_param(response, "stateMachineArn"):
                raise ValidationException("Specify either a mapRunArn or a stateMachineArn, not both")
            found = children.of_run(map_run_arn)
            if found is None:
                raise ResourceNotFound(map_run_arn)
            status = request_param(response, "statusFilter")
            items = [child.list_item() for child in found if not status or child.status == status]
            return ActionResult(_page(items, request_param(response, "maxResults"),
                                      request_param(response, "nextToken")))

        list_executions.__doc__ = original.__doc__
        return list_executions


def _page(items: list[dict[str, Any]], max_results: Any, token: Any) -> dict[str, Any]:
    size = int(max_results or 0) or DEFAULT_PAGE
    if not 0 < size <= MAX_PAGE:
        raise ValidationException(f"maxResults must be between 0 and {MAX_PAGE}")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidToken(f"Invalid token: {token}") from None
    page: dict[str, Any] = {"executions": items[start:start + size]}
    if start + size < len(items):
        page["nextToken"] = str(start + size)
    return page
