"""The EC2 errors the local cloud raises inside moto (serialized by moto like its own)."""

from __future__ import annotations

from moto.ec2.exceptions import EC2ClientError


def idempotent_parameter_mismatch() -> EC2ClientError:
    """Same ``ClientToken``, different parameters."""
    return EC2ClientError(
        "IdempotentParameterMismatch",
        "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
    )


def incorrect_instance_state(instance_id: str, action: str) -> EC2ClientError:
    """The instance is in a state ``action`` (``started``/``stopped``) cannot be applied from."""
    return EC2ClientError(
        "IncorrectInstanceState",
        f"The instance '{instance_id}' is not in a state from which it can be {action}.",
    )


def volume_not_available(volume_id: str) -> EC2ClientError:
    """Attaching a volume that is still ``creating``."""
    return EC2ClientError("IncorrectState", f"{volume_id} is not 'available'.")
