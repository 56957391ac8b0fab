"""The rules every value must pass before it reaches the database or a renderer.

PostgreSQL refuses NUL in text and jsonb, and lone UTF-16 surrogates cannot be encoded as UTF-8;
JSON nested deeper than orjson's 254 levels cannot be rendered again. A value that breaks one of
these was accepted and then failed later (a 500 at write or at every read), so the API boundary
(daarion/server/input_boundary.py), admin forms/models and the registry import all refuse it
up front with these functions, naming the field path.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

MAX_JSON_DEPTH = 64

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    found = _BAD_CHARS.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000)"
    return f"contains a lone UTF-16 surrogate (\\u{ord(found.group()):04x})"


def printable(value: str) -> str:
    """`value` with NUL and lone surrogates escaped (`\\u0000`): safe in a message or a row."""
    return _BAD_CHARS.sub(lambda found: f"\\u{ord(found.group()):04x}", value)


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """(field path, what is wrong) for the first bad key, string or nesting in `value`.

    Iterative, so a hostile depth cannot exhaust the Python stack here.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path or "body", problem
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                return path or "body", f"is nested deeper than {max_depth} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                shown = printable(key) if isinstance(key, str) else str(key)
                child_path = f"{path}.{shown}" if path else shown
                if isinstance(key, str):
                    problem = text_problem(key)
                    if problem:
                        return child_path, f"key {problem}"
                stack.append((child, child_path, depth + 1))
    return None


def validate_storable_text(value: Any) -> None:
    """Django validator for CharField/TextField values (admin forms, model full_clean)."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ValidationError(f"The value {problem}.", code="invalid_characters")


def validate_storable_json(value: Any) -> None:
    """Django validator for JSONField values: no NUL/surrogates anywhere, bounded nesting."""
    problem = json_problem(value)
    if problem:
        path, what = problem
        raise ValidationError(f"{path}: {what}.", code="invalid_json_value")
