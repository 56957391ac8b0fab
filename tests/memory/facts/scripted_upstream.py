"""A scripted OpenAI-compatible upstream for fact extraction, served over real HTTP.

Extraction requests (the extract system prompt) answer the facts scripted for the first rule
whose key occurs in the exchange; decision requests are answered by a small deterministic
judge: a candidate with the same subject → "duplicate" when its words equal the new fact's,
else "supersede"; no such candidate → "add". Embeddings use the offline feature hashing.
`failing` makes every chat call a 503 (the LLM is down). Used by the tests and by `make
eval-facts` in CI; a real model replaces it through the same route.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from llm.providers.offline import hash_embedding
from memory.facts.extraction import DECIDE_PROMPT, EXTRACT_PROMPT
from memory.facts.normalize import normalize_subject, normalize_text
from tests.fakes.server import serve_aiohttp

_CANDIDATE_RE = re.compile(r"^- id (\d+): \[(.*?)\] (.*)$")
_NEW_RE = re.compile(r"^NEW: \[(.*?)\] (.*)$")


@dataclass
class ScriptedUpstream:
    rules: dict[str, list[dict]] = field(default_factory=dict)  # text key → [{subject, text}]
    failing: bool = False
    delay: float = 0.0
    calls: Counter = field(default_factory=Counter)
    extracted_texts: list[str] = field(default_factory=list)
    echo_subject: str | None = None  # no rule matched: the exchange's first line is the fact

    def script(self, key: str, *facts: tuple[str, str]) -> None:
        self.rules[key] = [{"subject": s, "text": t} for s, t in facts]

    def _extract(self, text: str) -> dict:
        self.extracted_texts.append(text)
        for key, facts in self.rules.items():
            if key in text:
                return {"facts": facts}
        if self.echo_subject:
            line = text.splitlines()[0].removeprefix("User: ")
            return {"facts": [{"subject": self.echo_subject, "text": line}]}
        return {"facts": []}

    @staticmethod
    def decide(user: str) -> dict:
        new_subject, new_text = "", ""
        candidates = []
        for line in user.splitlines():
            if match := _NEW_RE.match(line):
                new_subject, new_text = match.groups()
            elif match := _CANDIDATE_RE.match(line):
                candidates.append((int(match[1]), match[2], match[3]))
        for fact_id, subject, text in candidates:
            if normalize_subject(subject) == normalize_subject(new_subject):
                same = set(normalize_text(text).split()) == set(normalize_text(new_text).split())
                return {"action": "duplicate" if same else "supersede", "fact_id": fact_id}
        return {"action": "add", "fact_id": None}

    async def _chat(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failing:
            self.calls["failed"] += 1
            return web.json_response({"error": {"message": "upstream down"}}, status=503)
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if system == EXTRACT_PROMPT:
            self.calls["extract"] += 1
            answer = self._extract(user)
        elif system == DECIDE_PROMPT:
            self.calls["decide"] += 1
            answer = self.decide(user)
        else:
            self.calls["other"] += 1
            answer = {"reply": "scripted"}
        message = {"role": "assistant", "content": orjson.dumps(answer).decode()}
        return web.json_response(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 1,
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52},
            }
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": hash_embedding(t, 384)}
            for i, t in enumerate(texts)
        ]
        return web.json_response({"object": "list", "data": data, "usage": {"total_tokens": 1}})

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        with serve_aiohttp(app) as base_url:
            yield f"{base_url}/v1"
