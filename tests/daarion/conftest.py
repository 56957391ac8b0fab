"""Fixtures the boundary tests borrow from the apps' tests (tenants, a real tool server)."""

from tests.memory.conftest import embed_route, tenants  # noqa: F401
from tests.toolcore.conftest import agent, tool_server  # noqa: F401
