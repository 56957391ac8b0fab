"""The two model calls of fact extraction, through the gateway (routed, limited, logged).

1. extract: an exchange → atomic, self-contained facts with their subject.
2. decide: a new fact and its similar existing facts → add / duplicate / supersede.

Both ask for JSON and parse it defensively: anything malformed is a `MalformedReply` (retried
like an outage), never a half-applied result.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

EXTRACT_PROMPT = """You extract durable facts from one conversation exchange for an agent's
long-term memory. Return JSON: {"facts": [{"subject": "...", "text": "..."}]}.
Rules: each fact is atomic and self-contained (names instead of pronouns, no "it"/"they"); the
subject is the thing the fact is about, in a short canonical form ("treasury multisig",
"project X deadline"); keep the language of the conversation; skip greetings, questions,
small talk and anything not worth remembering; at most 10 facts; {"facts": []} when none."""

DECIDE_PROMPT = """You maintain an agent's memory of facts. Given a NEW fact and EXISTING facts
(with ids), answer JSON {"action": "add" | "duplicate" | "supersede", "fact_id": <id or null>}.
"duplicate": NEW says the same as an existing fact (give its id).
"supersede": NEW updates or contradicts an existing fact about the same subject, which is no
longer true (give its id). "add": NEW is a different fact; existing facts stay true."""

ACTIONS = ("add", "duplicate", "supersede")


class MalformedReply(Exception):
    """The model answered something that is not the JSON asked for."""


@dataclass(frozen=True, slots=True)
class ExtractedFact:
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    fact_id: int | None


def _json(content: str | None) -> dict:
    text = (content or "").strip()
    if text.startswith("```"):  # models like fences even when told not to
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedReply(f"not JSON: {text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise MalformedReply("not a JSON object")
    return data


async def _ask(*, route: str, system: str, user: str, agent_id: str, microdao_id: str) -> dict:
    from llm import gateway
    from llm.types import ChatRequest

    result = await gateway.chat(
        ChatRequest(
            model=route,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            agent_id=agent_id,
            microdao_id=microdao_id,
            params={"temperature": 0, "response_format": {"type": "json_object"}},
            # Background work: not counted against the agent's chat rate limit (a backfill must
            # not starve the agent's conversations); budget and usage rows apply as usual.
            rate_limited=False,
        )
    )
    return _json(result.message.get("content"))


async def facts_extract_llm(
    *, route: str, text: str, agent_id: str, microdao_id: str
) -> list[ExtractedFact]:
    data = await _ask(
        route=route, system=EXTRACT_PROMPT, user=text, agent_id=agent_id, microdao_id=microdao_id
    )
    facts = data.get("facts")
    if not isinstance(facts, list):
        raise MalformedReply("no `facts` list")
    out: list[ExtractedFact] = []
    for item in facts[:10]:
        if not isinstance(item, dict):
            continue
        subject, fact = item.get("subject"), item.get("text")
        if isinstance(subject, str) and isinstance(fact, str) and subject.strip() and fact.strip():
            out.append(ExtractedFact(subject=subject.strip()[:200], text=fact.strip()[:2000]))
    return out


def decide_message(fact: ExtractedFact, candidates: list[Candidate]) -> str:
    lines = [f"NEW: [{fact.subject}] {fact.text}", "EXISTING:"]
    lines += [f"- id {c.id}: [{c.subject}] {c.text}" for c in candidates]
    return "\n".join(lines)


async def fact_decide_llm(
    *,
    route: str,
    fact: ExtractedFact,
    candidates: list[Candidate],
    agent_id: str,
    microdao_id: str,
) -> Decision:
    data = await _ask(
        route=route,
        system=DECIDE_PROMPT,
        user=decide_message(fact, candidates),
        agent_id=agent_id,
        microdao_id=microdao_id,
    )
    action = data.get("action")
    if action not in ACTIONS:
        raise MalformedReply(f"unknown action {action!r}")
    if action == "add":
        return Decision("add", None)
    fact_id = data.get("fact_id")
    if isinstance(fact_id, str) and fact_id.isdigit():
        fact_id = int(fact_id)
    # Only the candidates shown may be touched: anything else is treated as a new fact.
    if not isinstance(fact_id, int) or fact_id not in {c.id for c in candidates}:
        return Decision("add", None)
    return Decision(action, fact_id)
