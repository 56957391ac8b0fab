"""Shared helpers for the registry file (YAML) sections each app owns.

Each app's `registry_file` module validates its sections into a plan (collecting every problem
as "path: message") and applies the plan; daarion.server.registry_io orchestrates them.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

_ENV_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")


def plain(value: Any) -> Any:
    """A value as YAML-friendly plain data (Decimals as strings without trailing zeros)."""
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    return value


def env_lookup(name: str, default: str | None) -> str | None:
    """The environment variable `name`, else the Django setting `name`, else `default`."""
    if name in os.environ:
        return os.environ[name]
    value = getattr(settings, name, None)
    if isinstance(value, str) and value:
        return value
    return default


def env_expand(value: Any, path: str, problems: list[str]) -> Any:
    """Replace `${NAME}` / `${NAME:-default}` in every string of `value`."""
    if isinstance(value, str):

        def replace(match: re.Match) -> str:
            resolved = env_lookup(match[1], match[2])
            if resolved is None:
                problems.append(f"{path}: ${{{match[1]}}} is not set")
                return ""
            return resolved

        return _ENV_REF.sub(replace, value)
    if isinstance(value, list):
        return [env_expand(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: env_expand(item, f"{path}.{key}", problems) for key, item in value.items()}
    return value


def section_rows(data: dict, section: str, problems: list[str]) -> list[dict]:
    rows = data.get(section) or []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        problems.append(f"{section}: must be a list of mappings")
        return []
    return rows


def unknown_keys(row: dict, allowed: tuple[str, ...], path: str, problems: list[str]) -> None:
    unknown = sorted(set(row) - set(allowed))
    if unknown:
        problems.append(
            f"{path}: unknown keys {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )


def full_clean(instance, path: str, problems: list[str], exclude: list[str] | None = None) -> None:
    """Model validation without uniqueness (import upserts by natural key)."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            prefix = path if name == "__all__" else f"{path}.{name}"
            problems.extend(f"{prefix}: {message}" for message in messages)


def decimal_or_none(value: Any, path: str, problems: list[str]) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{path}: {value!r} is not a number")
        return None
