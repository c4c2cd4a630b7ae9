"""Errors of the control-plane steps. Their class names are the workflow's contract: the state
machine's Retry and Catch match them by name."""

from __future__ import annotations

from pcf.core.pcf_exceptions import PCFError


class UnknownParticleError(PCFError):
    """No desired spec is stored for the pcf_id (plan first)."""


class LeaseHeldError(PCFError):
    """Another execution holds the particle's lease; retry later or fail clearly."""
