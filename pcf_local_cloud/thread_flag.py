"""A flag each thread sets for itself, for a block: how a test asks one patch to behave as moto does in its own
thread only (scan instead of an index, copy tables instead of journaling) while the other threads go on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ThreadFlag:
    """Off in every thread until that thread raises it with :meth:`raised`."""

    def __init__(self) -> None:
        self._local = threading.local()

    def is_set(self) -> bool:
        """Whether the calling thread is inside :meth:`raised`."""
        return bool(getattr(self._local, "up", False))

    @contextmanager
    def raised(self) -> Iterator[None]:
        """Within the block the flag is set in the calling thread (nested blocks restore what they found)."""
        previous = self.is_set()
        self._local.up = True
        try:
            yield
        finally:
            self._local.up = previous
