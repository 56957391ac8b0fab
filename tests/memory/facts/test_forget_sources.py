"""Forgetting one of several sources keeps the fact (another memory still states it), minus
that source, and the audit row says so."""

from __future__ import annotations

import pytest

from memory.facts.models import Fact, FactAudit, FactSource
from memory.facts.services import memories_forget
from tests.memory.facts.support import run_worker, store

pytestmark = pytest.mark.django_db(transaction=True)
SOFIA, ALPHA = "agent:sofia", "microdao:alpha"


def test_forgetting_one_of_two_sources_keeps_the_fact_and_audits_it(extract_route, upstream):
    upstream.script("needs 2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))
    first = store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")
    second = store(SOFIA, ALPHA, "again: the treasury multisig needs 2 of 3")
    run_worker()
    fact = Fact.objects.get()
    assert set(fact.sources.values_list("memory_id", flat=True)) == {first, second}

    memories_forget(memory_ids=[first], actor="test")
    fact.refresh_from_db()
    assert fact.status == "current"
    assert list(FactSource.objects.values_list("memory_id", flat=True)) == [second]
    audit = FactAudit.objects.get(memory_id=first)
    assert audit.detail["facts_kept"] == [fact.pk] and audit.detail["facts_deleted"] == []

    memories_forget(memory_ids=[second], actor="test")  # the last source: the fact goes too
    assert not Fact.objects.exists()
    assert FactAudit.objects.get(memory_id=second).detail["facts_deleted"] == [fact.pk]
