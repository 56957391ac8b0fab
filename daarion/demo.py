"""Demo data for `make run`: a microDAO, agent Sofia, an admin user, then each app's demo seed.

Idempotent: a second run updates rows in place and never changes the admin password.
"""

from __future__ import annotations

import secrets
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.module_loading import import_string

from daarion.agents.services import agent_upsert, microdao_upsert

SOFIA_PROMPT = (
    "You are Sofia, the assistant of the DAARION microDAO. Answer briefly and concretely, in the "
    "user's language. Use the tools you are given to look up projects and tasks, and use the "
    "memories in your context when they are relevant."
)


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


@transaction.atomic
def bootstrap_demo(*, stdout: TextIO, admin_username: str, admin_password: str | None) -> None:
    microdao_upsert(microdao_id="microdao:daarion", name="DAARION")
    agent_upsert(
        agent_id="agent:sofia",
        microdao_id="microdao:daarion",
        display_name="Sofia",
        system_prompt=SOFIA_PROMPT,
        default_model="sofia-default",
        rate_limit="60/m",
    )
    ensure_admin_user(username=admin_username, password=admin_password, stdout=stdout)
    for path in settings.DAARION_DEMO_SEEDERS:
        import_string(path)(stdout=stdout)
    stdout.write("Demo data ready: microDAO 'microdao:daarion', agent 'agent:sofia'.\n")
