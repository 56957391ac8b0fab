"""One background daemon thread per owner, started on first use and again if it has died
(a thread does not survive a fork, and a crashed loop must not silence its owner for good)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class DaemonThread:
    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._target = target
        self._name = name
        self._thread: threading.Thread | None = None
        # Reentrant: an owner may start the thread again from inside its own start-up path.
        self._lock = threading.RLock()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ensure_started(self) -> None:
        if self.alive:
            return
        with self._lock:
            if not self.alive:
                self._thread = threading.Thread(target=self._target, name=self._name, daemon=True)
                self._thread.start()
