"""ASGI entry point. Refuses to start when system checks fail (e.g. dev secrets with DEBUG off)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daarion.server.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does

from daarion.server.asgi_handler import ApiFastASGIHandler  # noqa: E402  (after setup)

django_application = ApiFastASGIHandler()

from django.conf import settings  # noqa: E402  (after the app registry is ready)

from daarion.server.gc_tuning import gc_tune_for_serving  # noqa: E402
from daarion.server.startup import refuse_unsafe_start  # noqa: E402
from toolcore.mcp.asgi import mount_mcp  # noqa: E402

refuse_unsafe_start()

if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_application = ASGIStaticFilesHandler(django_application)  # type: ignore[assignment]
application = mount_mcp(django_application)  # /mcp: see docs/toolcore-mcp.md
# Last: everything start-up made is frozen out of the cyclic GC (daarion/server/gc_tuning.py).
gc_tune_for_serving(settings.SERVER_GC_THRESHOLD)
