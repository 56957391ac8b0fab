"""Entry-point shim: the settings live in the composition root, daarion.server.settings.

Kept because the external peer benchmark harness sets DJANGO_SETTINGS_MODULE=daarion.settings.
Nothing inside the project imports this module.
"""

from daarion.server.settings import *  # noqa: F403
