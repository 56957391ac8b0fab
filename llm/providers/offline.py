"""The offline provider: answers without any network or key, for development and demos.

A DEVELOPMENT provider: it generates no language, so real answers come from OpenAI, DeepSeek or
Ollama when configured. Every reply starts with `[offline:<model>]`.

Chat: a deterministic reply built from the request (same request and embedding route → same
reply), so the keyless demo still shows the whole agent flow (offline_tools.py):
- tools offered: it calls the tool whose description best matches the latest user message (through
  the default embedding route, above a threshold), with required arguments filled from the
  schema and the agent's context; `tool_choice` forcing a function returns that call;
- the conversation ends with tool results: a templated summary of them plus the most relevant
  memory from the system message;
- otherwise: an echo of the user's message, naming the tools it did not match.

Embeddings: feature hashing. Lower-cased Unicode word tokens (so Ukrainian and English both
work), a 5-letter prefix as a crude stem (Ukrainian inflects heavily), and character trigrams,
hashed with CRC32 (stable across processes, unlike hash()) into a signed vector, L2-normalised.
Texts sharing meaning-bearing words land close together; common stop words weigh little.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import zlib
from collections.abc import AsyncGenerator

import orjson

from llm import errors
from llm.providers import offline_tools
from llm.providers.base import ProviderChat, ProviderEmbeddings, ProviderStreamEvent
from llm.types import ProviderInfo

DEFAULT_DIMENSIONS = 384
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# A word list reads better as text than as a list literal.
_STOP_WORD_TEXT = (
    "a an and are as at be but by do does for from has have how i in is it its me my of on "
    "or our so than that the their them then there these they this to was we were what when "
    "where which who why will with you your "
    # Ukrainian function words (Cyrillic letters that look Latin are intended here)
    "і й та а але в у на з зі із до по за від про для що як це ти ми ви вони він "  # noqa: RUF001
    "вона воно я мені нас вас їх його її чи не так же ж бо є був була було"  # noqa: RUF001
)
_STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())
_WORD_WEIGHT = 1.0
_STOP_WEIGHT = 0.15
_STEM_WEIGHT = 0.6
_TRIGRAMS_TOTAL_WEIGHT = 0.5
_SIGN_SEED = 0x5BD1E995
_INLINE_BATCH = 16

logger = logging.getLogger(__name__)


def count_tokens(text: str) -> int:
    """A rough, deterministic token count (words and punctuation)."""
    return len(_TOKEN_RE.findall(text))


def _features(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for word in _WORD_RE.findall(text.lower()):
        stop = word in _STOP_WORDS
        weights["w:" + word] = weights.get("w:" + word, 0.0) + (
            _STOP_WEIGHT if stop else _WORD_WEIGHT
        )
        if stop:
            continue
        if len(word) > 5:
            key = "s:" + word[:5]
            weights[key] = weights.get(key, 0.0) + _STEM_WEIGHT
        padded = f"#{word}#"
        grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        share = _TRIGRAMS_TOTAL_WEIGHT / len(grams)
        for gram in grams:
            key = "g:" + gram
            weights[key] = weights.get(key, 0.0) + share
    return weights


def hash_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for feature, weight in _features(text).items():
        data = feature.encode()
        bucket = zlib.crc32(data) % dimensions
        sign = 1.0 if zlib.crc32(data, _SIGN_SEED) & 1 else -1.0
        # Sub-linear term frequency: a repeated word should not drown the others.
        vector[bucket] += sign * math.sqrt(weight)
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        # Empty or symbol-only text: a fixed unit vector, so callers never get NaNs.
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


def _forced_function(params: dict) -> dict | None:
    tools = params.get("tools") or []
    choice = params.get("tool_choice")
    name = None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
    elif choice == "required" and tools:
        name = (tools[0].get("function") or {}).get("name")
    if not name:
        return None
    function = next(
        (t.get("function") or {} for t in tools if (t.get("function") or {}).get("name") == name),
        {},
    )
    return {"name": name, "parameters": function.get("parameters") or {}}


def _call(name: str, args: dict, messages: list[dict]) -> dict:
    digest = hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return {
        "id": f"call_offline_{digest[:16]}",
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(args).decode()},
    }


async def build_reply(*, model: str, messages: list[dict], params: dict) -> dict:
    """The deterministic assistant message for a request (see the module docstring)."""
    label = f"[offline:{model}]"
    forced = _forced_function(params)
    if forced:
        args = offline_tools.fill_arguments(
            forced["parameters"],
            ids=offline_tools.conversation_ids(messages),
            message=offline_tools.latest_user_text(messages),
        )
        call = _call(forced["name"], args or {}, messages)
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return {
            "role": "assistant",
            "content": f"{label} {offline_tools.summarise_tool_results(messages)}",
        }
    user_text = offline_tools.latest_user_text(messages)
    tools = params.get("tools") or []
    note = ""
    if tools and params.get("tool_choice") != "none":
        chosen, note = await offline_tools.choose_tool_call(
            messages=messages, tools=tools, local=hash_embedding
        )
        if chosen is not None:
            return {
                "role": "assistant",
                "content": f"{label} Calling {note}.",
                "tool_calls": [chosen],
            }
    quoted = user_text if len(user_text) <= 200 else user_text[:200] + "…"
    content = f'{label} You said: "{quoted}" ({len(messages)} message(s) in context).'
    tool_names = [(t.get("function") or {}).get("name", "?") for t in tools]
    if tool_names:
        content += " Tools available: " + ", ".join(tool_names) + f"; {note}."
    memory = offline_tools.most_relevant_memory(messages)
    if memory:
        content += f" Relevant memory: {memory[:300]}"
    return {"role": "assistant", "content": content}


def _choices(params: dict) -> int:
    n = params.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def _prompt_tokens(messages: list[dict]) -> int:
    return sum(count_tokens(offline_tools.text_of(m.get("content"))) + 3 for m in messages)


class OfflineProvider:
    async def chat(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> ProviderChat:
        if params.get("logprobs"):  # refused, never silently dropped
            raise errors.ProviderBadRequest(
                f"{provider.name}: the offline provider has no logprobs", status_code=400
            )
        problem = offline_tools.tools_problem(params)
        if problem is not None:
            param, what = problem
            error = errors.ProviderBadRequest(f"`{param}` {what}.", status_code=400)
            error.upstream_param = param
            raise error
        try:
            message = await build_reply(model=model, messages=messages, params=params)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            if not params.get("tools"):
                raise
            # A tool definition of an odd shape the check above let through (e.g. an `enum` or
            # `maxLength` of the wrong type): the caller's input, so a 400 naming `tools`.
            logger.info("offline provider: unusable tools parameter", exc_info=True)
            error = errors.ProviderBadRequest(
                f"`tools` could not be used by the offline provider ({type(exc).__name__}); "
                "check the function definitions.",
                status_code=400,
            )
            error.upstream_param = "tools"
            raise error from None
        completion = message.get("content") or orjson.dumps(message.get("tool_calls")).decode()
        finish_reason = "tool_calls" if message.get("tool_calls") else "stop"
        n = _choices(params)
        extra = {}
        if n > 1:  # deterministic: n identical choices, each counted
            extra["choices"] = [
                {"index": i, "message": message, "finish_reason": finish_reason, "logprobs": None}
                for i in range(n)
            ]
        return ProviderChat(
            message=message,
            finish_reason=finish_reason,
            prompt_tokens=_prompt_tokens(messages),
            completion_tokens=count_tokens(completion) * n,
            extra=extra,
        )

    async def chat_stream(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> AsyncGenerator[ProviderStreamEvent, None]:
        result = await self.chat(
            provider=provider, api_key=api_key, model=model, messages=messages, params=params
        )
        for index in range(_choices(params)):
            if result.message.get("tool_calls"):
                calls = [{"index": i, **c} for i, c in enumerate(result.message["tool_calls"])]
                delta = {"role": "assistant", "tool_calls": calls}
                if result.message.get("content"):
                    delta["content"] = result.message["content"]
                yield ProviderStreamEvent(delta=delta, index=index)
            else:
                yield ProviderStreamEvent(delta={"role": "assistant", "content": ""}, index=index)
                for piece in re.findall(r"\S+\s*", result.message["content"]):
                    yield ProviderStreamEvent(delta={"content": piece}, index=index)
            yield ProviderStreamEvent(finish_reason=result.finish_reason, index=index)
        yield ProviderStreamEvent(
            usage={
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
            }
        )

    async def embed(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        texts: list[str] | list[list[int]],
        dimensions: int | None,
        requested_dimensions: int | None = None,
        input_type: str | None = None,  # ignored: the same vector serves queries and passages
    ) -> ProviderEmbeddings:
        # Feature hashing works at any size, so a requested `dimensions` is honoured.
        dims = requested_dimensions or dimensions or DEFAULT_DIMENSIONS

        def compute() -> ProviderEmbeddings:
            return ProviderEmbeddings(
                vectors=[hash_embedding(text, dims) for text in texts],  # type: ignore[arg-type]
                prompt_tokens=sum(count_tokens(text) for text in texts),  # type: ignore[arg-type,misc]
            )

        if len(texts) > _INLINE_BATCH:
            # A big batch is milliseconds of pure Python: keep the event loop answering meanwhile.
            return await asyncio.to_thread(compute)
        return compute()
