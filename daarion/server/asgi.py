"""ASGI entry point. Refuses to start when system checks fail (e.g. dev secrets with DEBUG off)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daarion.server.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after the app registry is ready)

from daarion.server.startup import refuse_unsafe_start  # noqa: E402

refuse_unsafe_start()

if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(django_application)
else:
    application = django_application  # type: ignore[assignment]
