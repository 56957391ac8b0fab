"""Tool use for the offline development provider, so the keyless demo shows the whole agent flow.

- Choosing: the latest user message and each offered tool's name + description are embedded
  through the gateway's default embedding route (whatever `MEMORY_DEFAULT_EMBEDDING_MODEL` names,
  or `LLM_OFFLINE_EMBEDDING_MODEL`) with the gateway's `embed` (registered by llm.gateway); the
  best tool by cosine similarity is called when it scores at least `LLM_OFFLINE_TOOL_THRESHOLD`.
  If that route fails, the local feature-hashing embedding stands in, so the choice never needs
  the network.
- Arguments: only the schema's required properties are filled, from the agent's context (ids like
  `microdao:…` / `agent:…` found in the conversation, normally the runtime's system message), the
  user's message for free-text fields, and schema defaults/enums/minimums. A tool whose required
  arguments cannot be filled is not called.
- Results: a templated summary of the tool results (the records matching the user's words, their
  nested items, the last update), plus the most relevant memory from the system message.

Everything is deterministic for a given conversation and embedding route; no text is generated.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.conf import settings

from llm.registry import RouteKind, registry_aget
from llm.types import EmbeddingResult

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.2
_ID_RE = {
    "microdao": re.compile(r"\bmicrodao:[\w.-]*\w"),
    "agent": re.compile(r"\bagent:[\w.-]*\w"),
}
_FREE_TEXT = {"query", "q", "text", "message", "prompt", "question", "search", "content"}
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_LABEL_KEYS = ("name", "title", "display_name", "label", "id")
_MAX_RECORDS = 5
_MAX_ITEMS = 8
LocalEmbed = Callable[[str], list[float]]
# The gateway's `embed`, registered by llm.gateway when it loads (providers sit below the gateway
# and do not import it); None until then, and the choice then embeds locally.
_embedder: Callable[..., Awaitable[EmbeddingResult]] | None = None


def embedder_set(embed: Callable[..., Awaitable[EmbeddingResult]] | None) -> None:
    global _embedder
    _embedder = embed


# Tool-description vectors per (route, text): tools rarely change, and each turn offers them again.
_vector_cache: dict[tuple[str, str], list[float]] = {}
_VECTOR_CACHE_MAX = 512


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict)).strip()
    return "" if content is None else str(content)


def latest_user_text(messages: list[dict]) -> str:
    return next(
        (text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )


# --- checking what was offered ------------------------------------------------------------------
_TOOL_CHOICES = ("none", "auto", "required")


def _schema_problem(schema: Any, path: str) -> tuple[str, str] | None:
    """The parts of a function's `parameters` this provider reads must have the right shape."""
    if not isinstance(schema, dict):
        return path, "must be a JSON Schema object"
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            return f"{path}.properties", "must be an object mapping names to schemas"
        for name, sub in properties.items():
            if not isinstance(sub, dict | bool):
                return f"{path}.properties.{name}", "must be a JSON Schema (object or boolean)"
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        return f"{path}.required", "must be an array of property names"
    return None


def tools_problem(params: dict) -> tuple[str, str] | None:
    """(param, what is wrong) when `tools`/`tool_choice` do not have OpenAI's shape, else None.

    Shapes only: a function tool needs a non-empty string `name`, an optional string
    `description` and an optional object `parameters` (JSON Schema)."""
    tools = params.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools", "must be an array of tool objects"
        for i, tool in enumerate(tools):
            where = f"tools[{i}]"
            if not isinstance(tool, dict):
                return where, "must be an object like {'type': 'function', 'function': {...}}"
            kind = tool.get("type", "function")
            if not isinstance(kind, str):
                return f"{where}.type", "must be a string ('function')"
            if kind != "function":
                continue  # other tool types are not offered to the model here (ignored)
            function = tool.get("function")
            if not isinstance(function, dict):
                return f"{where}.function", "must be an object with a `name`"
            name = function.get("name")
            if not isinstance(name, str) or not name.strip():
                return f"{where}.function.name", "must be a non-empty string"
            description = function.get("description")
            if description is not None and not isinstance(description, str):
                return f"{where}.function.description", "must be a string"
            if function.get("parameters") is not None:
                problem = _schema_problem(function["parameters"], f"{where}.function.parameters")
                if problem:
                    return problem
    choice = params.get("tool_choice")
    if choice is not None:
        if isinstance(choice, str):
            if choice not in _TOOL_CHOICES:
                return "tool_choice", "must be 'none', 'auto', 'required' or a function object"
        elif isinstance(choice, dict):
            function = choice.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                return "tool_choice.function.name", "must name one of the offered functions"
        else:
            return "tool_choice", "must be 'none', 'auto', 'required' or a function object"
    return None


# --- choosing a tool ---------------------------------------------------------------------------
def embedding_route() -> str:
    return getattr(settings, "LLM_OFFLINE_EMBEDDING_MODEL", "") or getattr(
        settings, "MEMORY_DEFAULT_EMBEDDING_MODEL", "offline-embed"
    )


def _threshold() -> float:
    return float(getattr(settings, "LLM_OFFLINE_TOOL_THRESHOLD", DEFAULT_THRESHOLD))


async def _embed(*, query: str, documents: list[str], local: LocalEmbed) -> list[list[float]]:
    """Vectors of `query` (always embedded: one logged gateway call per choice) and `documents`
    (cached per route), from the default embedding route; `local` if that fails."""
    route = embedding_route()
    known = (await registry_aget()).routes.get(route)
    if _embedder is None or known is None or known.kind != RouteKind.EMBEDDING:
        route = "local-hash"  # no gateway or no such route (a bare test database): no usage row
    missing = [t for t in dict.fromkeys(documents) if (route, t) not in _vector_cache]
    texts = [query, *missing]
    vectors: list[list[float]] | None = None
    if route != "local-hash" and _embedder is not None:
        try:
            vectors = (await _embedder(model=route, texts=texts)).vectors
        except Exception as exc:  # any route failure: the choice must still work offline
            logger.warning("offline tool choice: embedding route %r failed (%s)", route, exc)
            route = "local-hash"
            missing = [t for t in dict.fromkeys(documents) if (route, t) not in _vector_cache]
            texts = [query, *missing]
    if vectors is None:
        vectors = [local(t) for t in texts]
    if len(_vector_cache) > _VECTOR_CACHE_MAX:
        _vector_cache.clear()
    _vector_cache.update({(route, t): v for t, v in zip(missing, vectors[1:], strict=True)})
    return [vectors[0], *(_vector_cache[(route, t)] for t in documents)]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _tool_text(function: dict) -> str:
    name = str(function.get("name") or "")
    # "projects.list" → "projects list": the name's words count like the description's.
    return f"{re.sub(r'[._-]+', ' ', name)}: {function.get('description') or ''}".strip()


async def rank_tools(
    *, query: str, tools: list[dict], local: LocalEmbed
) -> list[tuple[float, dict]]:
    """(similarity, function) for each offered function tool, best first (ties keep order)."""
    functions = [t.get("function") or {} for t in tools if t.get("type", "function") == "function"]
    functions = [f for f in functions if f.get("name")]
    if not functions or not query.strip():
        return []
    documents = [_tool_text(f) for f in functions]
    vectors = await _embed(query=query, documents=documents, local=local)
    scored = [
        (_cosine(vectors[0], v), i, f)
        for i, (v, f) in enumerate(zip(vectors[1:], functions, strict=True))
    ]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [(round(score, 4), function) for score, _, function in scored]


def conversation_ids(messages: list[dict]) -> dict[str, str]:
    """The first `microdao:…` and `agent:…` ids in the conversation (system message first)."""
    ordered = sorted(messages, key=lambda m: m.get("role") != "system")
    found: dict[str, str] = {}
    for message in ordered:
        text = text_of(message.get("content"))
        for kind, pattern in _ID_RE.items():
            if kind not in found and (match := pattern.search(text)):
                found[kind] = match.group(0)
    return found


_UNKNOWN = object()


def _nullable(schema: dict) -> bool:
    """Strict-mode exports make optional properties required but nullable."""
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        return True
    return any(option.get("type") == "null" for option in schema.get("anyOf") or [])


def _fill(name: str, schema: dict, *, ids: dict[str, str], message: str) -> Any:
    """A value for one property, or _UNKNOWN when it cannot be filled honestly."""
    lowered = name.lower()
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind or "string"}
    if "string" in kinds:
        for id_kind, value in ids.items():
            if lowered in (id_kind, f"{id_kind}_id"):
                return value
    if _nullable(schema):
        return None  # optional: leave it out rather than guess
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "string" in kinds and (lowered in _FREE_TEXT or lowered.endswith(("_text", "_query"))):
        limit = schema.get("maxLength") or len(message)
        return message[:limit]
    if kinds & {"integer", "number"}:
        return schema.get("minimum", 1)
    if "boolean" in kinds:
        return False
    return _UNKNOWN


def fill_arguments(schema: dict, *, ids: dict[str, str], message: str) -> dict | None:
    """Arguments for the schema's required properties, or None if one cannot be filled."""
    properties = schema.get("properties") or {}
    args: dict[str, Any] = {}
    for name in schema.get("required") or []:
        sub = properties.get(name)
        value = _fill(name, sub if isinstance(sub, dict) else {}, ids=ids, message=message)
        if value is _UNKNOWN:
            return None
        args[name] = value
    return args


async def choose_tool_call(
    *, messages: list[dict], tools: list[dict], local: LocalEmbed
) -> tuple[dict | None, str]:
    """The tool call to make for the latest user message, and a note on why (or why not)."""
    message = latest_user_text(messages)
    ranked = await rank_tools(query=message, tools=tools, local=local)
    threshold = _threshold()
    ids = conversation_ids(messages)
    unfillable = []
    for score, function in ranked:
        if score < threshold:
            break
        args = fill_arguments(function.get("parameters") or {}, ids=ids, message=message)
        if args is None:
            unfillable.append(function["name"])
            continue
        digest = hashlib.sha256(
            orjson.dumps([message, function["name"], args], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        call = {
            "id": f"call_offline_{digest[:16]}",
            "type": "function",
            "function": {"name": function["name"], "arguments": orjson.dumps(args).decode()},
        }
        return call, f"{function['name']} matched ({score:.2f} ≥ {threshold:.2f})"
    if not ranked:
        return None, "no tool offered"
    if unfillable:
        return None, f"no tool called ({', '.join(unfillable)}: required arguments unknown)"
    best_score, best = ranked[0]
    return None, f"no tool matched (best {best['name']} {best_score:.2f} < {threshold:.2f})"


# --- summarising tool results ------------------------------------------------------------------
def _words(text: str) -> set[str]:
    return {w for w in _WORD_RE.findall(text.lower())}


def _label(record: dict) -> str:
    return next((str(record[k]) for k in _LABEL_KEYS if record.get(k) not in (None, "")), "item")


def _when(value: Any) -> str:
    text = str(value)
    match = re.match(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})", text)
    if not match:
        return text
    suffix = " UTC" if text.endswith(("Z", "+00:00")) else ""
    return f"{match[1]} {match[2]}{suffix}"


def _records(value: Any) -> list[dict] | None:
    """The main list of records in a result: the value itself, or its first list of objects."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, list) and item and all(isinstance(v, dict) for v in item):
                return item
    return None


def _describe(record: dict) -> str:
    parts = [_label(record)]
    details = []
    for key, value in record.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            items = [f"“{_label(v)}”" for v in value[:_MAX_ITEMS]]
            more = f" and {len(value) - _MAX_ITEMS} more" if len(value) > _MAX_ITEMS else ""
            details.append(f"{len(value)} {key.replace('_', ' ')}: {', '.join(items)}{more}")
    for key, value in record.items():
        if key.endswith("updated_at") and value:
            details.append(f"last update {_when(value)}")
        elif key == "status" and value:
            details.append(f"status {value}")
    return parts[0] + (" — " + "; ".join(details) if details else "")


def summarise_result(*, name: str, result: Any, message: str) -> str:
    records = _records(result)
    if records is None:
        if isinstance(result, dict) and len(result) == 1:
            (only,) = result.values()
            if isinstance(only, dict):
                return f"{name}: {_describe(only)}."
        shown = result if isinstance(result, str) else orjson.dumps(result).decode()
        return f"{name}: {shown[:300]}"
    if not records:
        return f"{name}: nothing found."
    asked = _words(message)
    overlap = [len(_words(_label(r)) & asked) for r in records]
    best = max(overlap)
    chosen = [r for r, o in zip(records, overlap, strict=True) if o == best] if best else records
    lines = [_describe(r) for r in chosen[:_MAX_RECORDS]]
    more = len(chosen) - _MAX_RECORDS
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{name}: " + " | ".join(lines) + tail + "."


def _tool_names(messages: list[dict]) -> dict[str, str]:
    names = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call.get("id") or ""] = (call.get("function") or {}).get("name") or "tool"
    return names


def _unwrap(content: str) -> tuple[bool, Any]:
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        return True, content
    # The reference runtime wraps results as {"ok": true, "result": …} / {"ok": false, "error": …}.
    if isinstance(payload, dict) and isinstance(payload.get("ok"), bool):
        return payload["ok"], payload.get("result") if payload["ok"] else payload.get("error")
    return True, payload


def most_relevant_memory(messages: list[dict]) -> str | None:
    """The top memory line the runtime put in the system message (it lists them best first)."""
    for message in messages:
        if message.get("role") != "system":
            continue
        text = text_of(message.get("content"))
        _, found, section = text.partition("Relevant memories and knowledge:\n")
        if found:
            # Items are "- [tier] text" and a text may span lines: cut at the next item.
            first = re.split(r"\n- \[", section, maxsplit=1)[0].removeprefix("- ")
            first = " ".join(first.split())
            return first or None
    return None


def summarise_tool_results(messages: list[dict]) -> str:
    """A summary of the tool results since the last assistant message."""
    tail = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        tail.append(message)
    names = _tool_names(messages)
    question = latest_user_text(messages)
    parts = []
    for message in reversed(tail):
        # OpenAI-safe function names spell a tool id's dots as "__" (projects__list).
        name = names.get(message.get("tool_call_id") or "", "tool").replace("__", ".")
        ok, value = _unwrap(text_of(message.get("content")))
        if ok:
            parts.append(summarise_result(name=name, result=value, message=question))
        else:
            error = value if isinstance(value, dict) else {"message": str(value)}
            parts.append(f"{name} failed: {error.get('type', 'error')}: {error.get('message', '')}")
    summary = " ".join(parts)
    memory = most_relevant_memory(messages)
    if memory:
        summary += f" Relevant memory: {memory[:300]}"
    return summary
