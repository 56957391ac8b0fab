"""Scoring of one eval case: expected facts are token keys matched against current facts."""

from __future__ import annotations

from dataclasses import dataclass, field

from memory.facts.normalize import normalize_text


def _matches(key: list[str], text: str) -> bool:
    tokens = set(normalize_text(text).split())
    return all(normalize_text(part) in tokens for part in key)


@dataclass
class Score:
    expected_current: int = 0
    current_found: int = 0
    stale: int = 0
    stale_leaked: int = 0
    survive: int = 0
    lost: int = 0
    current_facts: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for name in (
            "expected_current", "current_found", "stale", "stale_leaked", "survive", "lost",
            "current_facts", "duplicates",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures += other.failures

    def row(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return round(a / b, 3) if b else 0.0

        return {
            "current_fact_accuracy": ratio(self.current_found, self.expected_current),
            "superseded_leakage": ratio(self.stale_leaked, self.stale),
            "duplicate_rate": ratio(self.duplicates, self.current_facts),
            "facts_lost": ratio(self.lost, self.survive),
        }


def score_case(case: dict, current_texts: list[str]) -> Score:
    expect = case["expect"]
    score = Score(
        expected_current=len(expect["current"]),
        stale=len(expect["stale"]),
        survive=len(expect["survive"]),
        current_facts=len(current_texts),
    )
    for key in expect["current"]:
        if any(_matches(key, text) for text in current_texts):
            score.current_found += 1
        else:
            score.failures.append(f"{case['id']}: missing current {key}")
    for key in expect["stale"]:
        if any(_matches(key, text) for text in current_texts):
            score.stale_leaked += 1
            score.failures.append(f"{case['id']}: superseded {key} still current")
    for key in expect["survive"]:
        if not any(_matches(key, text) for text in current_texts):
            score.lost += 1
            score.failures.append(f"{case['id']}: lost {key}")
    # Every expected current fact should be one row: anything beyond is a duplicate.
    score.duplicates = max(0, len(current_texts) - len(expect["current"]))
    if score.duplicates:
        score.failures.append(f"{case['id']}: {score.duplicates} extra current fact(s)")
    return score
