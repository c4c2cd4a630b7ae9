"""One exception tree for the framework.

Class names are a contract: the Step Functions workflow matches them by name in Retry/Catch, and
users catch and raise the original PCF names (``NoResourceException``, ``MaxTimeoutException``, …). As in
the original, every class can be raised with no argument (its default message) or with one message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PCFError(Exception):
    """Base of every error the framework raises on purpose; with no argument, it says ``default_message``."""

    default_message: ClassVar[str] = ""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(args or ((self.default_message,) if self.default_message else ())))


class DefinitionError(PCFError, ValueError):
    """A definition is invalid. ``field`` is a dotted path into the definition, ``reason`` says why.

    The original PCF's forms work too: no argument (``reason`` is the class's default message) or one
    message (``field`` is empty)."""

    default_message = "invalid definition"

    def __init__(self, field: str | None = None, reason: str | None = None) -> None:
        if reason is None:
            field, reason = "", field or self.default_message
        self.field = field or ""
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

    default_message = "Flavor is missing from the particle definition"

    def __init__(self, field: str | None = None, reason: str | None = None) -> None:
        if field is None and reason is None:
            field, reason = "flavor", "is required"
        super().__init__(field, reason)


class UnknownFlavorError(DefinitionError):
    """No particle class is registered for the ``flavor``."""


class InvalidUniqueKeysException(DefinitionError):
    """A unique key of the flavor (``UNIQUE_KEYS``) is missing from the definition."""

    default_message = "Particle unique keys validation failed"


class UnknownParentError(DefinitionError):
    """A ``parents``/``children`` entry names no particle of the definition."""


class DependencyCycleError(DefinitionError):
    """Parents and children form a cycle; ``members`` lists the pcf_ids on it, in order."""

    def __init__(self, members: list[str]) -> None:
        self.members = members
        super().__init__("parents", "dependency cycle: " + " -> ".join([*members, members[0]]))


class InvalidStateError(DefinitionError):
    """A state name is not one of running, stopped, terminated."""

    default_message = "Attempted to set a state that is not valid"


class InvalidValueReplaceException(DefinitionError):
    """An ``$inherit$`` reference is malformed, names no parent, or the parent lacks the key."""

    default_message = "Invalid inputs for definition variable replace ($)"


class ResourceLookupNotDefinedException(DefinitionError):
    """A ``$lookup$`` reference names an unknown kind, or nothing by that name exists."""

    default_message = "Resource lookup class not defined"


class InvalidConfigException(DefinitionError):
    """``validate_config`` found the particle's configuration invalid."""

    default_message = "Particle config validation failed"


class InvalidCacheTTLException(PCFError, ValueError):
    """``cache_ttl`` is below the 10 second minimum."""

    default_message = "cache_ttl cannot be below 10"


class NoCallbackFunctionException(DefinitionError):
    """A callback's ``function`` is neither a Python callable nor a registered name (``pcf.util.callbacks``)."""

    default_message = "Callback function is not defined."


class NoResourceException(PCFError):
    """The particle's resource does not exist in the cloud."""

    default_message = "No instance of the resource"


class TooManyResourceException(PCFError):
    """More than one resource carries the particle's identity; the framework will not guess."""

    default_message = "Too many instances of the resource"


class TransitionError(PCFError):
    """A transition failed; ``pcf_id`` names the particle and ``__cause__`` holds the AWS error."""

    def __init__(self, pcf_id: str, message: str) -> None:
        self.pcf_id = pcf_id
        super().__init__(f"{pcf_id}: {message}")


class MaxTimeoutException(PCFError):
    """A particle did not reach its desired state within ``max_timeout`` seconds."""

    default_message = "Max timeout reached while in apply()"


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


class ApplyTimedOut(ApplyFailed, MaxTimeoutException):
    """An apply failed only because particles ran out of ``max_timeout``: catch it as either name."""


# -- the rest of the original PCF's exceptions, for code that raises or catches them -----------------------


class ParentRequiredException(PCFError):
    """A particle needs exactly one parent of some flavor and found none or several."""

    default_message = "A parent is required, but none or too many were found"


class NoCodeException(PCFError):
    """No code to deploy was given (the original's Lambda particle)."""

    default_message = "Did not provide local zipfile or zipfile location in S3"


class InvalidUpdateParamException(PCFError):
    """An update asked to change a field the flavor cannot change in place."""

    default_message = "Attempted to update invalid parameter fields"


class InvalidTagsException(DefinitionError):
    """Tags in a definition are invalid."""

    default_message = "Tag validation failed"


class MissingException(PCFError):
    """A value the particle needs is missing."""

    default_message = "Attempted to use missing value"


class MissingInput(DefinitionError):
    """A required input is missing."""

    default_message = "Missing Required Input"


InvalidState = InvalidStateError
"""The original PCF's name for ``InvalidStateError``."""
