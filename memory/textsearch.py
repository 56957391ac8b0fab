"""Full-text queries that work for Ukrainian and English alike.

PostgreSQL ships no Ukrainian stemmer, so the stored side (config `daarion_text`) stems English
words and keeps other words as written (lower-cased). The query side strips a Ukrainian
inflectional ending and matches the remaining stem as a prefix (`проєкт:*` finds проєкт,
проєкту, проєктів), which covers the regular noun, adjective and verb endings; English words go
through the same configuration and are stemmed by PostgreSQL. Terms are OR-ed: ranking, not
matching every word, decides what comes first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def _load_words(name: str) -> set[str]:
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
MIN_STEM = 3
MAX_TERMS = 32

# Longest first; a light stemmer in the spirit of the Snowball family (no dictionary).
_UK_ENDINGS = sorted(_load_words("uk_endings.txt"), key=len, reverse=True)

UK_STOPWORDS = frozenset(_load_words("stopwords_uk_ru.txt"))


def stem_ukrainian(word: str) -> str:
    """The word without one inflectional ending, keeping at least MIN_STEM letters."""
    for ending in _UK_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class QueryTerm:
    """One query word as it reaches `to_tsquery`: `part` is its tsquery text.

    `lexeme` is what the stored side indexes for it when known here (Cyrillic: the word or its
    stem, `prefix` when matched as a prefix); None for words PostgreSQL stems (English, numbers)."""

    word: str
    part: str
    lexeme: str | None
    prefix: bool = False


def query_terms(text: str) -> list[QueryTerm]:
    """The query's meaning-bearing words, each with its tsquery part (at most MAX_TERMS)."""
    terms: list[QueryTerm] = []
    seen: set[str] = set()
    for raw in _WORD.findall(text.lower()):
        if raw in UK_STOPWORDS or raw in seen:
            continue
        seen.add(raw)
        if _CYRILLIC.search(raw):
            if len(raw) < 2:
                continue
            stem = stem_ukrainian(raw)
            prefix = stem != raw or len(raw) >= 4
            terms.append(QueryTerm(raw, _quote(stem) + (":*" if prefix else ""), stem, prefix))
        else:
            # English (and numbers, identifiers): stemmed and stop-worded by PostgreSQL.
            terms.append(QueryTerm(raw, _quote(raw), None))
        if len(terms) >= MAX_TERMS:
            break
    return terms


def build_tsquery(text: str | Sequence[QueryTerm]) -> str:
    """A `to_tsquery(daarion_text, …)` string OR-ing the query's meaning-bearing words.

    Empty when the text has none (then full-text search is skipped).
    """
    terms = query_terms(text) if isinstance(text, str) else text
    return " | ".join(term.part for term in terms)
