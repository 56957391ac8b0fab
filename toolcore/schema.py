"""JSON Schema for tools: checking schemas, validating arguments, exporting to OpenAI.

Schemas are JSON Schema Draft 2020-12 with an object at the root (function parameters are
always an object). The OpenAI export is strict-mode compatible when the schema allows it:
every object gets `additionalProperties: false`, every property becomes required, and a property
that was optional becomes nullable — so a strict model sends `null` for what it leaves out, and
`strip_optional_nulls` removes those nulls again before validation. Schemas using keywords strict
mode does not support (oneOf, allOf, patternProperties, free-form maps, …) are exported unchanged
with `strict: false`.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

MAX_REPORTED_ERRORS = 10

# Keywords strict mode accepts (annotation-only ones are dropped on export).
_STRICT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "description",
        "anyOf",
        "$defs",
        "$ref",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
# Dropped on export: annotations, and value limits strict mode rejects. The server still
# validates the full schema, so a model that breaks a dropped limit gets an invalid_args answer.
_DROPPED_ON_EXPORT = frozenset(
    {
        "title",
        "default",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "readOnly",
        "writeOnly",
        "deprecated",
        "minLength",
        "maxLength",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "contentEncoding",
        "contentMediaType",
    }
)
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|authori[sz]ation|credential|private[_-]?key|cookie",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def schema_problems(schema: Any) -> list[str]:
    """Why `schema` cannot be a tool's input/output schema (empty when it can)."""
    if not isinstance(schema, dict):
        return ["The schema must be a JSON object."]
    declared = schema.get("$schema")
    if declared is not None and "2020-12" not in str(declared):
        return ["Only JSON Schema Draft 2020-12 is supported ($schema must name 2020-12)."]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "(root)"
        return [f"Invalid JSON Schema at {where}: {exc.message}"]
    return []


def input_schema_problems(schema: Any) -> list[str]:
    problems = schema_problems(schema)
    if not problems and schema.get("type") != "object":
        problems.append('The input schema must describe an object: {"type": "object", ...}.')
    return problems


def compile_validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FormatChecker())


def args_errors(validator: Draft202012Validator, args: Any) -> list[dict[str, str]]:
    """Validation errors as `{path, message}`, phrased so an LLM can correct its call."""
    errors = sorted(validator.iter_errors(args), key=lambda e: (list(e.path), e.message))
    described = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        path = "args" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.path
        )
        described.append({"path": path, "message": _llm_message(error)})
    return described


def _llm_message(error) -> str:
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
        return f"{error.message}. Allowed properties: {allowed}."
    if error.validator == "enum":
        return f"{error.message}. Use one of the listed values."
    return error.message


def strip_optional_nulls(schema: dict, value: Any) -> Any:
    """Drop `null` values of properties that the schema does not require (strict-mode nulls)."""
    if not isinstance(value, dict) or not isinstance(schema, dict):
        return value
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    cleaned = {}
    for key, item in value.items():
        if item is None and key in properties and key not in required:
            continue
        cleaned[key] = strip_optional_nulls(properties.get(key, {}), item)
    return cleaned


# Strict-mode limits (conservative: OpenAI's documented minimums over time).
MAX_STRICT_PROPERTIES = 100
MAX_STRICT_DEPTH = 5
_STRICT_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)


def to_openai_parameters(schema: dict) -> tuple[dict, bool]:
    """(parameters, strict) for an OpenAI function definition."""
    try:
        parameters = _strictify(copy.deepcopy(schema), root=True)
        properties, depth = _size(parameters)
        if properties > MAX_STRICT_PROPERTIES or depth > MAX_STRICT_DEPTH:
            raise _NotStrictCompatible
        return parameters, True
    except _NotStrictCompatible:
        cleaned = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
        return cleaned, False


class _NotStrictCompatible(Exception):
    pass


def _size(node: Any, depth: int = 1) -> tuple[int, int]:
    """(object properties in total, deepest object nesting) of an exported schema."""
    if isinstance(node, list):
        sizes = [_size(item, depth) for item in node] or [(0, 0)]
        return sum(s[0] for s in sizes), max(s[1] for s in sizes)
    if not isinstance(node, dict):
        return 0, 0
    properties = node.get("properties") or {}
    count, deepest = len(properties), depth if properties else 0
    for key, value in node.items():
        if key == "properties":
            children = [_size(sub, depth + 1) for sub in value.values()]
        elif key in ("items", "anyOf", "$defs"):
            children = [_size(value if key != "$defs" else list(value.values()), depth)]
        else:
            continue
        for child_count, child_depth in children:
            count += child_count
            deepest = max(deepest, child_depth)
    return count, deepest


def _strictify(node: Any, *, root: bool = False) -> Any:
    if not isinstance(node, dict):
        raise _NotStrictCompatible
    for key in _DROPPED_ON_EXPORT:
        node.pop(key, None)
    if "format" in node and node["format"] not in _STRICT_FORMATS:
        del node["format"]  # validated server-side; strict mode knows only a few formats
    unsupported = set(node) - _STRICT_KEYWORDS
    if unsupported:
        raise _NotStrictCompatible
    if root and node.get("type") != "object":
        raise _NotStrictCompatible
    if "$defs" in node:
        node["$defs"] = {name: _strictify(sub) for name, sub in node["$defs"].items()}
    if "anyOf" in node:
        node["anyOf"] = [_strictify(sub) for sub in node["anyOf"]]
    if "items" in node:
        node["items"] = _strictify(node["items"])
    types = node.get("type")
    if types == "object" or (isinstance(types, list) and "object" in types):
        if node.get("additionalProperties") not in (None, False):
            raise _NotStrictCompatible  # free-form maps cannot be strict
        properties = node.get("properties") or {}
        required = set(node.get("required") or ())
        strict_properties = {}
        for name, sub in properties.items():
            sub = _strictify(sub)
            if name not in required:
                sub = _nullable(sub)
            strict_properties[name] = sub
        node["properties"] = strict_properties
        node["required"] = list(strict_properties)
        node["additionalProperties"] = False
    return node


def _nullable(node: dict) -> dict:
    types = node.get("type")
    if isinstance(types, str):
        if types != "null":
            node["type"] = [types, "null"]
    elif isinstance(types, list):
        if "null" not in types:
            node["type"] = [*types, "null"]
    elif "anyOf" in node:
        if not any(sub.get("type") == "null" for sub in node["anyOf"]):
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
    else:
        return {"anyOf": [node, {"type": "null"}]}
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node


def redact(value: Any, *, schema: dict | None = None, secrets: tuple[str, ...] = ()) -> Any:
    """A copy of `value` for the audit log: secret-looking or writeOnly properties masked, any
    occurrence of a known secret value replaced, and made storable in jsonb (no NUL characters,
    no NaN/Infinity)."""
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        redacted = {}
        for key, item in value.items():
            sub = properties.get(key) if isinstance(properties, dict) else None
            secret_key = _SECRET_KEY.search(str(key)) is not None
            storable_key = storable_text(str(key))
            if secret_key or (isinstance(sub, dict) and sub.get("writeOnly")):
                redacted[storable_key] = REDACTED
            else:
                redacted[storable_key] = redact(item, schema=sub, secrets=secrets)
        return redacted
    if isinstance(value, list | tuple):
        item_schema = schema.get("items") if isinstance(schema.get("items"), dict) else None
        return [redact(item, schema=item_schema, secrets=secrets) for item in value]
    if isinstance(value, str):
        return storable_text(scrub(value, secrets))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return storable_text(scrub(repr(value), secrets))  # not JSON (a Python caller's object)


def storable_text(text: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL characters."""
    return text.replace("\x00", "")


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_deep(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every secret occurrence replaced (for results an upstream may echo)."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub(str(k), secrets): scrub_deep(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_deep(item, secrets) for item in value]
    return value
