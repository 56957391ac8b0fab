"""The eval runs on the test database like the tests (and closes its connections the same way).
Scripted mode never leaves 127.0.0.1; EVAL_FACTS_REAL=1 calls the configured provider."""

import os

from tests.conftest import _close_async_thread_connections  # noqa: F401  (fixture)

if os.environ.get("EVAL_FACTS_REAL") != "1":
    from tests.conftest import _no_network_beyond_loopback  # noqa: F401  (fixture)
