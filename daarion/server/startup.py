from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def refuse_unsafe_start() -> None:
    """Run the system checks a server process would otherwise skip; raise on any error."""
    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR and not m.is_silenced()]
    if errors:
        lines = "\n".join(f"  {m.id}: {m.msg} {m.hint or ''}" for m in errors)
        raise ImproperlyConfigured(f"Refusing to start:\n{lines}")
