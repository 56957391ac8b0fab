"""ASGI entry point. Refuses to start when system checks fail (e.g. dev secrets with DEBUG off)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daarion.server.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after the app registry is ready)

from daarion.server.startup import refuse_unsafe_start  # noqa: E402
from toolcore.mcp.asgi import mount_mcp  # noqa: E402

refuse_unsafe_start()

if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_application = ASGIStaticFilesHandler(django_application)
application = mount_mcp(django_application)  # /mcp: see docs/toolcore-mcp.md
