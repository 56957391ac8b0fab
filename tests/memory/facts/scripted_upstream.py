"""Fact extraction scripted on the suite's one fake upstream (tests/fakes/openai_upstream.py).

Extraction requests (the extract system prompt) answer the facts scripted for the first rule
whose key occurs in the exchange; decision requests are answered by a small deterministic
judge: a candidate with the same subject → "duplicate" when its words equal the new fact's,
else "supersede"; no such candidate → "add". Embeddings are feature-hashing vectors. `failing`
makes every call a 503 (the LLM is down). Used by the tests and by `make eval-facts` in CI; a
real model replaces it through the same route.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from memory.facts.extraction import DECIDE_PROMPT, EXTRACT_PROMPT
from memory.facts.normalize import normalize_subject, normalize_text
from tests.fakes.openai_upstream import UpstreamState, fake_upstream

_CANDIDATE_RE = re.compile(r"^- id (\d+): \[(.*?)\] (.*)$")
_NEW_RE = re.compile(r"^NEW: \[(.*?)\] (.*)$")


@dataclass
class ScriptedUpstream:
    rules: dict[str, list[dict]] = field(default_factory=dict)  # text key → [{subject, text}]
    delay: float = 0.0  # seconds each model call takes (blocks the fake's loop: calls queue)
    calls: Counter = field(default_factory=Counter)
    extracted_texts: list[str] = field(default_factory=list)
    echo_subject: str | None = None  # no rule matched: the exchange's first line is the fact
    state: UpstreamState = field(default_factory=lambda: UpstreamState(embed_dimensions=384))

    @property
    def failing(self) -> bool:
        return self.state.down

    @failing.setter
    def failing(self, value: bool) -> None:
        self.state.down = value

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

    def __call__(self, body: dict) -> dict | None:
        """The fake upstream's `script`: the assistant message for a chat request."""
        if self.delay:
            time.sleep(self.delay)
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if system == EXTRACT_PROMPT:
            self.calls["extract"] += 1
            answer = self._extract(user)
        elif system == DECIDE_PROMPT:
            self.calls["decide"] += 1
            answer = self.decide(user)
        else:
            return None
        return {"role": "assistant", "content": orjson.dumps(answer).decode()}

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        self.state.script = self
        with fake_upstream(self.state) as (base_url, _):
            yield base_url
