"""System checks: production refuses the development defaults for secrets."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=False)
def check_production_secrets(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    errors = []
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY or len(settings.SECRET_KEY) < 32:
        errors.append(
            Error(
                "SECRET_KEY is the development default (or shorter than 32 characters) while "
                "DEBUG is off.",
                hint="Set SECRET_KEY in the environment to a long random value.",
                id="daarion.E001",
            )
        )
    if (
        settings.INTERNAL_SECRET == settings.DEV_INTERNAL_SECRET
        or len(settings.INTERNAL_SECRET) < 16
    ):
        errors.append(
            Error(
                "INTERNAL_SECRET is the development default (or shorter than 16 characters) "
                "while DEBUG is off.",
                hint="Set INTERNAL_SECRET to a long random value shared with agent-runtime.",
                id="daarion.E002",
            )
        )
    if settings.DEV_FIELD_ENCRYPTION_KEY in settings.FIELD_ENCRYPTION_KEYS:
        errors.append(
            Error(
                "FIELD_ENCRYPTION_KEY uses the development default while DEBUG is off.",
                hint="Generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`.",
                id="daarion.E003",
            )
        )
    return errors
