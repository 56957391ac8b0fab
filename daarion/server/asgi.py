"""ASGI entry point. Refuses to start when system checks fail (e.g. dev secrets with DEBUG off)."""

import os

import django

from daarion.server.graceful_exit import drain_on_lifespan_shutdown, exit_cleanly_on_signals

# Before uvicorn installs its own handlers: its re-raised SIGTERM then exits through atexit,
# where queued usage rows are written or spooled (see that module).
exit_cleanly_on_signals()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daarion.server.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does

from daarion.server.asgi_handler import ApiFastASGIHandler  # noqa: E402  (after setup)

django_application = ApiFastASGIHandler()

from django.conf import settings  # noqa: E402  (after the app registry is ready)

from daarion.server.gc_tuning import gc_tune_for_serving  # noqa: E402
from daarion.server.startup import refuse_unsafe_start  # noqa: E402
from toolcore.mcp.asgi import mount_mcp  # noqa: E402

refuse_unsafe_start()

from llm.usage import usage_spool_replay_start  # noqa: E402

usage_spool_replay_start()  # rows an earlier process spooled during an outage

from toolcore.audit_spool import audit_spool_replay_start  # noqa: E402

audit_spool_replay_start()  # tool-call audit completions an earlier process spooled

if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_application = ASGIStaticFilesHandler(django_application)  # type: ignore[assignment]
application = mount_mcp(django_application)  # /mcp: see docs/toolcore-mcp.md
# A lifespan shutdown (when the server sends one) writes or spools queued usage rows.
application = drain_on_lifespan_shutdown(application)
# Last: everything start-up made is frozen out of the cyclic GC (daarion/server/gc_tuning.py).
gc_tune_for_serving(settings.SERVER_GC_THRESHOLD)
