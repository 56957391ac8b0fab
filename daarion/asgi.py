"""Entry-point shim: the ASGI application lives in the composition root, daarion.server.asgi.

Kept because the external peer benchmark harness serves `daarion.asgi:application`.
Nothing inside the project imports this module.
"""

from daarion.server.asgi import application

__all__ = ["application"]
