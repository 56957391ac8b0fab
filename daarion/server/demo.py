"""Demo data for `make run`: the registry in demo/registry.yaml (microDAO, Sofia, providers,
routes, tools, grants), an admin user, then each app's demo seed (e.g. the knowledge base).

Seeds an empty database only: once a microDAO exists, operators own the data and a restart must
not revert their admin edits. `reset=True` (`bootstrap_demo --reset`) re-applies everything
(idempotent: rows are updated in place; the admin password never changes).
"""

from __future__ import annotations

import secrets
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.module_loading import import_string

from daarion.server.registry_io import ImportSummary, registry_import, registry_load_yaml

DEMO_REGISTRY = settings.BASE_DIR / "demo" / "registry.yaml"


def demo_registry_import() -> ImportSummary:
    """Load demo/registry.yaml (idempotent)."""
    return registry_import(registry_load_yaml(DEMO_REGISTRY.read_text(encoding="utf-8")))


def ensure_admin_user(*, username: str, password: str | None, stdout: TextIO) -> None:
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        stdout.write(f"Admin user '{username}' exists (password unchanged).\n")
        return
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=password)
    if generated:
        stdout.write(
            f"Created admin user '{username}' with password: {password}\n"
            "  (shown once; set ADMIN_PASSWORD to choose it)\n"
        )
    else:
        stdout.write(f"Created admin user '{username}' (password from ADMIN_PASSWORD).\n")


def demo_present() -> bool:
    from daarion.agents.models import MicroDAO

    return MicroDAO.objects.exists()


@transaction.atomic
def bootstrap_demo(
    *, stdout: TextIO, admin_username: str, admin_password: str | None, reset: bool = False
) -> None:
    if not reset and demo_present():
        stdout.write(
            "Data present: demo not re-applied (admin edits kept; "
            "`manage.py bootstrap_demo --reset` re-applies demo/registry.yaml).\n"
        )
        ensure_admin_user(username=admin_username, password=admin_password, stdout=stdout)
        return
    summary = demo_registry_import()
    counts = ", ".join(f"{count} {name}" for name, count in summary.counts.items())
    stdout.write(f"Registry loaded from {DEMO_REGISTRY.name}: {counts}.\n")
    ensure_admin_user(username=admin_username, password=admin_password, stdout=stdout)
    for path in settings.DAARION_DEMO_SEEDERS:
        import_string(path)(stdout=stdout)
    stdout.write("Demo data ready: microDAO 'microdao:daarion', agent 'agent:sofia'.\n")
