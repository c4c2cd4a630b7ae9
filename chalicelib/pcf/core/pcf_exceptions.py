"""One exception tree for the framework.

Class names are a contract: the Step Functions workflow matches them by name in Retry/Catch, and
users catch the original PCF names (``NoResourceException``, ``MaxTimeoutException``, …).
"""

from __future__ import annotations


class PCFError(Exception):
    """Base of every error the framework raises on purpose."""


class DefinitionError(PCFError, ValueError):
    """A definition is invalid. ``field`` is a dotted path into the definition, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class DefinitionErrors(DefinitionError):
    """Several definition problems found in one validation pass; ``errors`` lists each one."""

    def __init__(self, errors: list[DefinitionError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.field, first.reason)
        self.args = ("; ".join(str(e) for e in errors),)


class FlavorMissingException(DefinitionError):
    """A definition has no ``flavor``."""

    def __init__(self, field: str = "flavor", reason: str = "is required") -> None:
        super().__init__(field, reason)


class UnknownFlavorError(DefinitionError):
    """No particle class is registered for the ``flavor``."""


class InvalidUniqueKeysException(DefinitionError):
    """A unique key of the flavor (``UNIQUE_KEYS``) is missing from the definition."""


class UnknownParentError(DefinitionError):
    """A ``parents``/``children`` entry names no particle of the definition."""


class DependencyCycleError(DefinitionError):
    """Parents and children form a cycle; ``members`` lists the pcf_ids on it, in order."""

    def __init__(self, members: list[str]) -> None:
        self.members = members
        super().__init__("parents", "dependency cycle: " + " -> ".join([*members, members[0]]))


class InvalidStateError(DefinitionError):
    """A state name is not one of running, stopped, terminated."""


class InvalidValueReplaceException(DefinitionError):
    """An ``$inherit$`` reference is malformed, names no parent, or the parent lacks the key."""


class ResourceLookupNotDefinedException(DefinitionError):
    """A ``$lookup$`` reference names an unknown kind, or nothing by that name exists."""


class InvalidConfigException(DefinitionError):
    """``validate_config`` found the particle's configuration invalid."""


class InvalidCacheTTLException(PCFError, ValueError):
    """``cache_ttl`` is below the 10 second minimum."""


class NoCallbackFunctionException(DefinitionError):
    """A callback's ``function`` is neither a Python callable nor a registered name (``pcf.util.callbacks``)."""


class NoResourceException(PCFError):
    """The particle's resource does not exist in the cloud."""


class TooManyResourceException(PCFError):
    """More than one resource carries the particle's identity; the framework will not guess."""


class TransitionError(PCFError):
    """A transition failed; ``pcf_id`` names the particle and ``__cause__`` holds the AWS error."""

    def __init__(self, pcf_id: str, message: str) -> None:
        self.pcf_id = pcf_id
        super().__init__(f"{pcf_id}: {message}")


class MaxTimeoutException(PCFError):
    """A particle did not reach its desired state within ``max_timeout`` seconds."""


class ParticleTimeoutError(MaxTimeoutException):
    """Named timeout of one particle: ``pcf_id``, the last observed state and the limit."""

    def __init__(self, pcf_id: str, last_state: object, timeout: float) -> None:
        self.pcf_id = pcf_id
        self.last_state = last_state
        self.timeout = timeout
        super().__init__(f"{pcf_id}: still {last_state} after {timeout:g}s")


class DependencyStateError(PCFError):
    """A particle cannot move because a parent or child is not where it must be first."""


class ApplyFailed(PCFError):
    """An apply failed; ``errors`` maps pcf_id to the exception raised for that particle."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        details = "; ".join(f"{pcf_id}: {type(e).__name__}: {e}" for pcf_id, e in errors.items())
        super().__init__(f"{len(errors)} particle(s) failed: {details}")


class ForeignResourceError(PCFError):
    """A resource carries the particle's ``PCFName`` but not this deployment's ``PCFDeployment`` tag (another
    deployment's, or none): it is not ours, so nothing adopts, changes or deletes it. ``resource_id`` names it,
    ``owner`` is the deployment it is tagged with (``None``: no deployment tag), ``deployment`` is ours."""

    def __init__(self, pcf_id: str, resource_id: str, owner: str | None, deployment: str, hint: str = "") -> None:
        self.pcf_id = pcf_id
        self.resource_id = resource_id
        self.owner = owner
        self.deployment = deployment
        whose = (f"no PCFDeployment tag (this deployment is {deployment!r})" if owner is None
                 else f"PCFDeployment={owner!r}, another deployment's (this one is {deployment!r})")
        super().__init__(f"{pcf_id}: {resource_id} carries the particle's PCFName but {whose}: not ours, "
                         f"left untouched{hint}")
