"""Common-term pruning of the full-text side (memory/textstats.py): a word in most memories is
left out of the tsquery, from PostgreSQL's own ANALYZE statistics; results stay right."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memory.selectors import memory_query, memory_search_run
from memory.services import StoreItem, memory_store_many
from memory.textsearch import build_tsquery, query_terms
from memory.textstats import NO_STATS, LexemeStats, lexeme_stats, selective_terms
from memory.types import TenantScope

pytestmark = pytest.mark.django_db(transaction=True)

FILLERS = [
    "apples", "rivers", "lamps", "violins", "tables", "pencils", "clouds", "ladders", "boats",
    "candles", "mirrors", "bridges", "kettles", "tunnels", "wagons", "anchors", "helmets", "drums",
    "saddles", "barrels", "lanterns", "compasses", "baskets", "blankets", "hammers", "feathers",
    "buckets", "shovels", "trumpets", "marbles",
]  # fmt: skip


def _store_corpus() -> None:
    # "gardens" and "проєкту" in every memory, each filler in one, "zucchini" in one.
    items = [
        StoreItem(channel_id="c", user_message=f"gardens of проєкту with {word}")
        for word in FILLERS
    ]
    items.append(StoreItem(channel_id="c", user_message="gardens of проєкту with zucchini"))
    async_to_sync(memory_store_many)(
        agent_id="agent:sofia", microdao_id="microdao:alpha", items=items
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memory_memory")


def _hybrid_sql(queries) -> str:
    [sql] = [q["sql"] for q in queries if "fused AS" in q["sql"]]
    return sql


def test_a_term_in_most_rows_is_left_out_of_the_sql_and_results_stay_right(tenants, settings):
    settings.MEMORY_TEXT_COMMON_FREQ, settings.MEMORY_TEXT_COMMON_MIN_ROWS = 0.5, 10
    _store_corpus()
    stats = lexeme_stats()
    assert stats.share("garden") > 0.9  # ANALYZE saw the stemmed lexeme in every row
    assert stats.is_common("проєкт", prefix=True)

    kept, dropped = selective_terms(query_terms("gardens zucchini проєкт"))
    assert build_tsquery(kept) == "'zucchini'"
    assert {term.word for term in dropped} == {"gardens", "проєкт"}

    with CaptureQueriesContext(connection) as queries:
        result = async_to_sync(memory_query)(
            agent_id="agent:sofia",
            microdao_id="microdao:alpha",
            query="gardens zucchini",
            limit=5,
            tiers=["mid"],
        )
    sql = _hybrid_sql(queries)
    assert "zucchini" in sql and "gardens" not in sql
    top = result.items[0]
    assert top.text.endswith("zucchini")
    assert top.score_breakdown["text_rank"] == 1
    assert all(item.score_breakdown["text_rank"] is None for item in result.items[1:])

    # Nothing selective left: the full-text side is skipped, the vector side still answers.
    with CaptureQueriesContext(connection) as queries:
        result = async_to_sync(memory_query)(
            agent_id="agent:sofia",
            microdao_id="microdao:alpha",
            query="gardens",
            limit=5,
            tiers=["mid"],
        )
    assert "fts_hits" not in _hybrid_sql(queries)
    assert len(result.items) == 5
    assert all(item.score_breakdown["text_rank"] is None for item in result.items)


def test_without_a_vector_side_or_in_a_small_table_nothing_is_dropped(tenants, settings):
    settings.MEMORY_TEXT_COMMON_FREQ = 0.5
    _store_corpus()
    # Default MEMORY_TEXT_COMMON_MIN_ROWS (5000): 31 rows are cheap to search, keep every term.
    kept, dropped = selective_terms(query_terms("gardens zucchini"))
    assert dropped == [] and len(kept) == 2

    settings.MEMORY_TEXT_COMMON_MIN_ROWS = 10
    scope = TenantScope(microdao_id="microdao:alpha", agent_id="agent:sofia", shares_memory=False)
    # Full-text only (the embedding route is down): the common word is all there is to match.
    items = memory_search_run(scope=scope, query="gardens", limit=5, tiers=["mid"])
    assert len(items) == 5
    assert all(item.score_breakdown["text_rank"] is not None for item in items)


def test_lexeme_shares_and_thresholds(settings):
    settings.MEMORY_TEXT_COMMON_FREQ, settings.MEMORY_TEXT_COMMON_MIN_ROWS = 0.1, 1000
    stats = LexemeStats(
        rows=20000, lexemes=("garden", "проєкт", "проєкти", "рік"), freqs=(0.3, 0.06, 0.05, 0.5)
    )
    assert stats.is_common("garden") and not stats.is_common("zucchini")
    assert not stats.is_common("проєкт")  # 6% as an exact lexeme
    assert stats.is_common("проєкт", prefix=True)  # 11% with the lexemes it prefixes
    settings.MEMORY_TEXT_COMMON_MIN_ROWS = 10001  # 50% of 20,000 rows is not enough rows
    assert not stats.is_common("рік")
    assert not NO_STATS.is_common("garden")
