"""Tool ids and the OpenAI function names they map to.

A tool id is OpenAI-safe (`[A-Za-z0-9_-]`, ≤ 64 characters) or a dotted seed name such as
`projects.list`. Its function name replaces each "." with "__" (`projects__list`). The function
name is stored in a unique column, so two ids that would map to the same name (`a.b` and `a__b`)
cannot both exist, and any spelling a caller uses (`projects.list` or `projects__list`) resolves
to exactly one tool.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

MAX_NAME_LENGTH = 64
_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_OPENAI_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def openai_name_for(tool_id: str) -> str:
    """The OpenAI function name of a tool id (also normalises a name a caller passes)."""
    return tool_id.replace(".", "__")


def validate_tool_id(value: str) -> None:
    if not _TOOL_ID.match(value or ""):
        raise ValidationError(
            "Use letters, digits, '_' and '-', optionally in dot-separated parts "
            "(e.g. 'projects_list' or 'projects.list').",
            code="invalid_tool_id",
        )
    if len(openai_name_for(value)) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"The function name '{openai_name_for(value)}' would be longer than "
            f"{MAX_NAME_LENGTH} characters (each '.' becomes '__').",
            code="tool_id_too_long",
        )


def is_openai_safe(name: str) -> bool:
    return bool(_OPENAI_NAME.match(name))
