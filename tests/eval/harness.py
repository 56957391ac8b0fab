"""The retrieval eval: store the labelled set through the public memory API, ask its questions,
score recall@1, recall@5 and MRR per slice (docs/memory-embeddings.md).

Slices: all; en / uk (the question's language); same-language / cross-language (question vs the
memory's language); near-miss (the target has a look-alike distractor, or is one); kb / turn
(the target's kind); beta (the second microDAO, whose look-alikes live in alpha). A `leaks`
count says how many returned items belonged to another microDAO (must be 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.test import Client

SET_PATH = Path(__file__).resolve().parent / "retrieval_set.yaml"
BASE = "/internal/agent-memory"
LIMIT = 5
SLICES = ("all", "en", "uk", "cross-language", "same-language", "near-miss", "kb", "turn", "beta")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def eval_set() -> dict:
    return yaml.safe_load(SET_PATH.read_text(encoding="utf-8"))


@dataclass
class Scores:
    ranks: dict[str, list[int | None]] = field(default_factory=lambda: {s: [] for s in SLICES})
    leaks: int = 0

    def add(self, slices: list[str], rank: int | None) -> None:
        for name in slices:
            self.ranks[name].append(rank)

    def metrics(self, name: str) -> dict[str, float]:
        ranks = self.ranks[name]
        n = len(ranks) or 1
        return {
            "n": len(ranks),
            "r@1": sum(1 for r in ranks if r == 1) / n,
            "r@5": sum(1 for r in ranks if r is not None and r <= LIMIT) / n,
            "mrr": sum(1.0 / r for r in ranks if r) / n,
        }


def _post(client: Client, path: str, body: dict) -> dict:
    response = client.post(f"{BASE}{path}", body, content_type="application/json")
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    return response.json()


def store_set(client: Client, data: dict) -> None:
    """Every memory of the set, through the API: turns in one batch per microDAO (each in its
    own channel), knowledge documents one by one (one chunk each)."""
    microdaos = data["microdaos"]
    for name, ids in microdaos.items():
        turns = [m for m in data["memories"] if m["microdao"] == name and "user" in m]
        body = {
            "agent_id": ids["agent"],
            "microdao_id": ids["id"],
            "items": [
                {
                    "channel_id": f"eval-{m['key']}",
                    "content": {"user_message": m["user"], "agent_reply": m["agent"]},
                    "metadata": {"eval_key": m["key"]},
                }
                for m in turns
            ],
        }
        stored = _post(client, "/store/batch", body)
        assert not any(item["pending_embedding"] for item in stored["results"]), stored
        for m in data["memories"]:
            if m["microdao"] == name and "text" in m:
                _post(
                    client,
                    "/documents",
                    {
                        "microdao_id": ids["id"],
                        "title": m["title"],
                        "text": m["text"],
                        "source": f"eval:{m['key']}",
                    },
                )


def _key_of(item: dict) -> str | None:
    metadata = item.get("metadata") or {}
    if "eval_key" in metadata:
        return metadata["eval_key"]
    source = metadata.get("source") or ""
    return source.removeprefix("eval:") if source.startswith("eval:") else None


def _slices(question: dict, memory: dict, near_miss_keys: set[str]) -> list[str]:
    q_lang = "uk" if _CYRILLIC.search(question["q"]) else "en"
    names = ["all", q_lang]
    names.append("cross-language" if q_lang != memory["lang"] else "same-language")
    if memory["key"] in near_miss_keys:
        names.append("near-miss")
    names.append("kb" if "text" in memory else "turn")
    if memory["microdao"] == "beta":
        names.append("beta")
    return names


def ask_set(client: Client, data: dict) -> Scores:
    memories = {m["key"]: m for m in data["memories"]}
    near_miss = {m["key"] for m in data["memories"] if m.get("near_miss_of")}
    near_miss |= {m["near_miss_of"] for m in data["memories"] if m.get("near_miss_of")}
    scores = Scores()
    for question in data["questions"]:
        target = memories[question["target"]]
        ids = data["microdaos"][target["microdao"]]
        answer = _post(
            client,
            "/query",
            {
                "agent_id": ids["agent"],
                "microdao_id": ids["id"],
                "query": question["q"],
                "limit": LIMIT,
                "tiers": ["mid", "long"],
            },
        )
        keys = [_key_of(item) for item in answer["items"]]
        scores.leaks += sum(
            1 for key in keys if key in memories and memories[key]["microdao"] != target["microdao"]
        )
        rank = keys.index(target["key"]) + 1 if target["key"] in keys else None
        scores.add(_slices(question, target, near_miss), rank)
    return scores


def format_table(rows: list[tuple[str, Scores]]) -> str:
    """One line per (configuration, slice): n, recall@1, recall@5, MRR."""
    lines = [
        f"{'configuration':<44} {'slice':<15} {'n':>3} {'r@1':>6} {'r@5':>6} {'MRR':>6}",
    ]
    for label, scores in rows:
        for name in SLICES:
            m = scores.metrics(name)
            if not m["n"]:
                continue
            lines.append(
                f"{label:<44} {name:<15} {m['n']:>3} {m['r@1']:>6.3f} {m['r@5']:>6.3f} "
                f"{m['mrr']:>6.3f}"
            )
        lines.append(f"{label:<44} {'leaks':<15} {scores.leaks:>3}")
    return "\n".join(lines)
