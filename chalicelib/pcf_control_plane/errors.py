"""Errors of the control-plane steps. Their class names are the workflow's contract: the state
machine's Retry and Catch match them by name."""

from __future__ import annotations

from pcf.core.pcf_exceptions import DefinitionError, PCFError


class UnknownParticleError(PCFError):
    """No desired spec is stored for the pcf_id (plan first)."""


class LeaseHeldError(PCFError):
    """Another execution holds the particle's lease; retry later or fail clearly."""


class ExecutionInputError(DefinitionError):
    """The input of an execution or a step is wrong: ``field`` names it, ``reason`` says why."""


class ThrottlingError(PCFError):
    """AWS refused a call for its rate (after the client's own retries): the workflow retries with backoff."""


class TransientAWSError(PCFError):
    """AWS failed a call for a passing reason (5xx, unavailable): the workflow retries with backoff."""


class SupersededError(PCFError):
    """A newer plan replaced the desired spec this execution was converging a particle to: the execution stops
    instead of converging the particle to another execution's desired state (which owns it now)."""
