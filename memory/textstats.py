"""Which full-text query terms are too common to search, from PostgreSQL's own statistics.

An OR query's full-text side costs what its commonest term costs: the GIN index hands PostgreSQL
every row holding the term (a bitmap built before any LIMIT applies), and in a table of a
million memories a word like "project" is in a large share of them. Such a term also says little
about which memory is meant, so the hybrid ranking loses next to nothing without it.

ANALYZE already samples the tsvector column and keeps its most common lexemes with their
frequencies (`pg_stats.most_common_elems` / `most_common_elem_freqs`). This module reads them
(cached per process for MEMORY_TEXT_STATS_TTL seconds) and drops a query term whose estimated
share of rows is at least MEMORY_TEXT_COMMON_FREQ *and* whose estimated row count is at least
MEMORY_TEXT_COMMON_MIN_ROWS (a small table never drops anything: searching it is cheap). A term
ANALYZE did not list is rarer than every listed one. Without statistics (never analysed) nothing
is dropped. A Ukrainian prefix term (`проєкт:*`) counts the listed lexemes it matches.

English words and numbers are stemmed by PostgreSQL (`daarion_text`), so their lexemes are asked
of the database once per word and kept per process (a bounded map: stemming never changes).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from daarion.common.process_state import register_reset
from daarion.common.registry_cache import RegistryCache
from memory.models import TEXT_SEARCH_CONFIG, Memory
from memory.textsearch import QueryTerm

MEMORY_TABLE = Memory._meta.db_table


@dataclass(frozen=True, slots=True)
class LexemeStats:
    """The column's most common lexemes (sorted) and their shares of rows; `rows` estimated."""

    rows: float
    lexemes: tuple[str, ...]
    freqs: tuple[float, ...]

    def share(self, lexeme: str, *, prefix: bool = False) -> float:
        """Estimated share of rows matching `lexeme` (as a prefix: the sum over the listed
        lexemes it starts, an upper bound); 0 for a lexeme not listed."""
        start = bisect.bisect_left(self.lexemes, lexeme)
        if not prefix:
            found = start < len(self.lexemes) and self.lexemes[start] == lexeme
            return self.freqs[start] if found else 0.0
        total = 0.0
        for index in range(start, len(self.lexemes)):
            if not self.lexemes[index].startswith(lexeme):
                break
            total += self.freqs[index]
        return min(1.0, total)

    def is_common(self, lexeme: str, *, prefix: bool = False) -> bool:
        share = self.share(lexeme, prefix=prefix)
        return share >= float(settings.MEMORY_TEXT_COMMON_FREQ) and share * self.rows >= int(
            settings.MEMORY_TEXT_COMMON_MIN_ROWS
        )


NO_STATS = LexemeStats(rows=0.0, lexemes=(), freqs=())
lexeme_stats_cache: RegistryCache[LexemeStats] = RegistryCache(
    "memory-lexeme-stats", ttl=float(settings.MEMORY_TEXT_STATS_TTL)
)


def lexeme_stats() -> LexemeStats:
    """The search_vector column's lexeme statistics (cached per database and process)."""
    return lexeme_stats_cache.get(connection.settings_dict["NAME"], _lexeme_stats_load)


def _lexeme_stats_load() -> LexemeStats:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples "
            "FROM pg_stats s JOIN pg_class c ON c.oid = to_regclass(%s) "
            "WHERE s.schemaname = current_schema() AND s.tablename = %s "
            "AND s.attname = 'search_vector'",
            [MEMORY_TABLE, MEMORY_TABLE],
        )
        row = cursor.fetchone()
    if row is None or not row[0] or not row[1]:
        return NO_STATS
    elems, freqs, rows = row
    # most_common_elem_freqs ends with the minimum, the maximum and the null share.
    pairs = sorted(zip(elems, freqs[: len(elems)], strict=True))
    return LexemeStats(
        rows=max(float(rows), 0.0),
        lexemes=tuple(lexeme for lexeme, _ in pairs),
        freqs=tuple(float(freq) for _, freq in pairs),
    )


_STEMS_MAX = 50_000
_stems: dict[str, tuple[str, ...]] = {}
_stems_lock = threading.Lock()


@register_reset
def stems_clear() -> None:
    """Forget the per-word lexemes (tests; the benchmark's end-to-end pass, so each query pays
    for stemming its words as a first-time query would)."""
    with _stems_lock:
        _stems.clear()


def _lexemes_of(words: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each word's lexemes under `daarion_text` (none for a stop word); asks only for new ones."""
    missing = [word for word in words if word not in _stems]
    if missing:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT w, tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}', w)) "  # noqa: S608
                "FROM unnest(%s::text[]) AS w",  # (a constant config name; words are a parameter)
                [missing],
            )
            found = {word: tuple(lexemes or ()) for word, lexemes in cursor.fetchall()}
        with _stems_lock:
            if len(_stems) + len(found) > _STEMS_MAX:
                _stems.clear()
            _stems.update(found)
        return {word: _stems.get(word) or found.get(word, ()) for word in words}
    return {word: _stems[word] for word in words}


def selective_terms(terms: Sequence[QueryTerm]) -> tuple[list[QueryTerm], list[QueryTerm]]:
    """(kept, dropped): the terms whose lexemes are common in the stored memories (or that
    PostgreSQL drops as stop words) dropped."""
    stats = lexeme_stats()
    if not terms or not stats.lexemes:
        return list(terms), []
    # Cheap way out: nothing in the table is common enough to drop.
    if stats.freqs and (
        max(stats.freqs) * stats.rows < int(settings.MEMORY_TEXT_COMMON_MIN_ROWS)
        or max(stats.freqs) < float(settings.MEMORY_TEXT_COMMON_FREQ)
    ):
        return list(terms), []
    stemmed = _lexemes_of([term.word for term in terms if term.lexeme is None])
    kept: list[QueryTerm] = []
    dropped: list[QueryTerm] = []
    for term in terms:
        if term.lexeme is not None:
            common = stats.is_common(term.lexeme, prefix=term.prefix)
        else:
            # A stop word (no lexeme) matches nothing: dropped too, so a query left with only
            # stop words skips the full-text side instead of scanning for nothing.
            lexemes = stemmed.get(term.word, ())
            common = all(stats.is_common(lexeme) for lexeme in lexemes)
        (dropped if common else kept).append(term)
    return kept, dropped
