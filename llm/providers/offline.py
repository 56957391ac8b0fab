"""The offline provider: answers without any network or key, for development and demos.

Chat: a deterministic reply built from the request (same request → same reply). It does not
call tools on its own; when the conversation ends with tool results it summarises them, and when
`tool_choice` forces a function it returns that call (with `{}` arguments) so tool plumbing can
be exercised end to end.

Embeddings: feature hashing. Lower-cased Unicode word tokens (so Ukrainian and English both
work), a 5-letter prefix as a crude stem (Ukrainian inflects heavily), and character trigrams,
hashed with CRC32 (stable across processes, unlike hash()) into a signed vector, L2-normalised.
Texts sharing meaning-bearing words land close together; common stop words weigh little.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import zlib
from collections.abc import AsyncGenerator

import orjson

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


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict)).strip()
    return "" if content is None else str(content)


def _forced_function(params: dict) -> str | None:
    tools = params.get("tools") or []
    choice = params.get("tool_choice")
    if isinstance(choice, dict):
        return (choice.get("function") or {}).get("name")
    if choice == "required" and tools:
        return (tools[0].get("function") or {}).get("name")
    return None


def build_reply(*, model: str, messages: list[dict], params: dict) -> dict:
    """The deterministic assistant message for a request."""
    forced = _forced_function(params)
    if forced:
        digest = hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_offline_{digest[:16]}",
                    "type": "function",
                    "function": {"name": forced, "arguments": "{}"},
                }
            ],
        }
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        results = [
            _text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "tool"
        ]
        summary = " | ".join(r[:300] for r in reversed(results[:3]))
        content = f"[offline:{model}] Tool results: {summary}"
    else:
        user_text = next(
            (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"),
            "",
        )
        quoted = user_text if len(user_text) <= 200 else user_text[:200] + "…"
        content = f'[offline:{model}] You said: "{quoted}" ({len(messages)} message(s) in context).'
        tool_names = [(t.get("function") or {}).get("name", "?") for t in params.get("tools") or []]
        if tool_names:
            content += " Tools available: " + ", ".join(tool_names) + "."
    return {"role": "assistant", "content": content}


def _prompt_tokens(messages: list[dict]) -> int:
    return sum(count_tokens(_text_of(m.get("content"))) + 3 for m in messages)


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
        message = build_reply(model=model, messages=messages, params=params)
        completion = message.get("content") or orjson.dumps(message.get("tool_calls")).decode()
        return ProviderChat(
            message=message,
            finish_reason="tool_calls" if message.get("tool_calls") else "stop",
            prompt_tokens=_prompt_tokens(messages),
            completion_tokens=count_tokens(completion),
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
        if result.message.get("tool_calls"):
            calls = [{"index": i, **c} for i, c in enumerate(result.message["tool_calls"])]
            yield ProviderStreamEvent(delta={"role": "assistant", "tool_calls": calls})
        else:
            yield ProviderStreamEvent(delta={"role": "assistant", "content": ""})
            for piece in re.findall(r"\S+\s*", result.message["content"]):
                yield ProviderStreamEvent(delta={"content": piece})
        yield ProviderStreamEvent(finish_reason=result.finish_reason)
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
        texts: list[str],
        dimensions: int | None,
    ) -> ProviderEmbeddings:
        dims = dimensions or DEFAULT_DIMENSIONS

        def compute() -> ProviderEmbeddings:
            return ProviderEmbeddings(
                vectors=[hash_embedding(text, dims) for text in texts],
                prompt_tokens=sum(count_tokens(text) for text in texts),
            )

        if len(texts) > _INLINE_BATCH:
            # A big batch is milliseconds of pure Python: keep the event loop answering meanwhile.
            return await asyncio.to_thread(compute)
        return compute()
