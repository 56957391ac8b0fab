"""Facts end to end: extraction on the queue through the gateway (scripted upstream over real
HTTP), supersede instead of duplicate, as_of, provenance, forget, corrections, isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from llm.models import UsageLog
from memory.facts.models import (
    Fact,
    FactAudit,
    FactEmbedding,
    FactExtraction,
    FactSource,
    FactStatus,
)
from memory.models import Memory, MemoryEmbedding
from tests.memory.facts.support import run_worker, store

pytestmark = pytest.mark.django_db(transaction=True)
SOFIA, ALPHA = "agent:sofia", "microdao:alpha"
BASE = "/internal/agent-memory"
T1 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def client(internal_headers):
    return Client(headers=internal_headers)


def _post(client, path, body):
    return client.post(f"{BASE}{path}", body, content_type="application/json")


def _script_treasury(upstream) -> None:
    upstream.script("needs 2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))
    upstream.script(
        "now needs 3 of 5",
        ("treasury multisig", "The treasury multisig needs 3 of 5 signatures."),
    )


def test_treasury_threshold_supersedes_and_as_of_shows_the_old_one(client, extract_route, upstream):
    _script_treasury(upstream)
    first = store(SOFIA, ALPHA, "Remember: the treasury multisig needs 2 of 3.", at=T1)
    run_worker()
    second = store(SOFIA, ALPHA, "Update: it now needs 3 of 5 signatures.", at=T2)
    run_worker()

    current = _post(
        client,
        "/facts/query",
        {"agent_id": SOFIA, "microdao_id": ALPHA, "query": "treasury multisig threshold"},
    ).json()
    assert [item["text"] for item in current["items"]] == [
        "The treasury multisig needs 3 of 5 signatures."
    ]
    top = current["items"][0]
    assert [s["memory_id"] for s in top["metadata"]["sources"]] == [str(second)]
    assert top["metadata"]["score_breakdown"]["rrf"] > 0

    before = _post(
        client,
        "/facts/query",
        {
            "agent_id": SOFIA,
            "microdao_id": ALPHA,
            "query": "treasury multisig threshold",
            "as_of": "2026-04-01T00:00:00Z",
        },
    ).json()
    assert [item["text"] for item in before["items"]] == ["The treasury multisig needs 2 of 3."]
    assert before["items"][0]["metadata"]["sources"][0]["memory_id"] == str(first)
    scope = {"agent_id": SOFIA, "microdao_id": ALPHA, "query": "treasury multisig"}
    naive = _post(client, "/facts/query", {**scope, "as_of": "2026-04-01T00:00:00"}).json()
    assert [item["text"] for item in naive["items"]] == ["The treasury multisig needs 2 of 3."]
    both = _post(client, "/facts/query", {**scope, "include_superseded": True}).json()
    assert [item["metadata"]["status"] for item in both["items"]] == ["current", "superseded"]

    old = Fact.objects.get(text="The treasury multisig needs 2 of 3.")
    new = Fact.objects.get(text__contains="3 of 5")
    assert (old.status, old.valid_until, old.superseded_by_id) == (
        FactStatus.SUPERSEDED,
        T2,
        new.pk,
    )
    # The main memory query ranks the current fact with the other tiers, provenance attached.
    query = _post(
        client,
        "/query",
        {"agent_id": SOFIA, "microdao_id": ALPHA, "query": "treasury multisig threshold"},
    ).json()
    assert query["items"][0]["tier"] == "facts"
    assert "3 of 5" in query["items"][0]["text"]
    assert all("2 of 3." not in item["text"] or item["tier"] != "facts" for item in query["items"])
    # Every model call went through the gateway and left a usage row on the route.
    assert (
        UsageLog.objects.filter(model="memory-extract").count()
        == upstream.calls["extract"] + (upstream.calls["decide"])
    )
    assert upstream.calls["decide"] == 1  # the first fact had no candidates: no call


def test_restating_a_fact_five_times_leaves_one_fact(extract_route, upstream):
    upstream.script("2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))
    upstream.script("2-of-3", ("Treasury multisig", "the treasury multisig needs 2-of-3"))
    memories = [
        store(SOFIA, ALPHA, text)
        for text in (
            "The treasury multisig needs 2 of 3.",
            "Reminder: treasury is 2-of-3.",
            "As I said, 2 of 3 for the treasury.",
            "Treasury: 2-of-3 signers.",
            "Once more: 2 of 3.",
        )
    ]
    run_worker()
    facts = Fact.objects.filter(agent_id=SOFIA)
    assert facts.count() == 1
    assert sorted(FactSource.objects.values_list("memory_id", flat=True)) == sorted(memories)
    assert FactExtraction.objects.filter(status="done").count() == 5


def test_forgetting_a_memory_removes_its_facts_and_vectors(client, extract_route, upstream):
    _script_treasury(upstream)
    upstream.script("Olena leads", ("design lead", "Olena leads the design team."))
    first = store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3; Olena leads design", at=T1)
    upstream.rules["needs 2 of 3"].append({"subject": "design lead", "text": "Olena leads design."})
    run_worker()
    second = store(SOFIA, ALPHA, "It now needs 3 of 5 signatures.", at=T2)
    run_worker()
    derived = list(Fact.objects.filter(sources__memory_id=second).values_list("pk", flat=True))
    assert len(derived) == 1 and FactEmbedding.objects.filter(fact_id__in=derived).exists()

    response = client.delete(
        f"{BASE}/memories/{second}", query_params={"agent_id": SOFIA, "microdao_id": ALPHA}
    )
    assert response.status_code == 200, response.content

    assert not Memory.objects.filter(pk=second).exists()
    assert not MemoryEmbedding.objects.filter(memory_id=second).exists()
    assert not Fact.objects.filter(pk__in=derived).exists()
    assert not FactEmbedding.objects.filter(fact_id__in=derived).exists()
    assert not FactSource.objects.filter(memory_id=second).exists()
    # The change's only evidence is gone: the 2-of-3 fact is current again.
    old = Fact.objects.get(text="The treasury multisig needs 2 of 3.")
    assert (old.status, old.valid_until, old.superseded_by_id) == ("current", None, None)
    audit = FactAudit.objects.get(action="forget", memory_id=second)
    assert audit.actor == f"api:{SOFIA}" and audit.detail["facts_deleted"] == derived
    assert Memory.objects.filter(pk=first).exists()


def test_llm_down_keeps_the_exchange_and_retries_with_backoff(
    client, extract_route, upstream, admin_client
):
    _script_treasury(upstream)
    upstream.failing = True
    memory_id = store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")
    assert Memory.objects.filter(pk=memory_id).exists()  # stored before any model call

    run_worker()  # the attempt fails; the retry is not due yet, so the batch worker stops
    failed = DBTaskResult.objects.get(status="FAILED")
    assert "JobRetry" in failed.exception_class_path and "upstream" in failed.traceback
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"] == {"memory_ids": [memory_id], "attempt": 2}
    assert retry.run_after > failed.finished_at + dt.timedelta(seconds=0.3)
    job = FactExtraction.objects.get(memory_id=memory_id)
    assert (job.status, job.attempts) == ("retrying", 1)
    assert job.next_attempt_at == retry.run_after
    assert "HTTP 503" in job.last_error
    assert "retrying" in admin_client.get("/admin/facts/factextraction/").content.decode()
    tasks_page = admin_client.get("/admin/django_tasks_database/dbtaskresult/").content.decode()
    assert "facts_extract" in tasks_page and "Failed" in tasks_page

    upstream.failing = False
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=retry.enqueued_at)  # time passes
    run_worker()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.added) == ("done", 2, 1)
    assert Fact.objects.filter(sources__memory_id=memory_id).count() == 1


def test_corrections_mark_incorrect_and_edit_make_versions(client, extract_route, upstream):
    _script_treasury(upstream)
    store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")
    run_worker()
    fact = Fact.objects.get()
    scope = {"agent_id": SOFIA, "microdao_id": ALPHA}

    edited = _post(
        client, f"/facts/{fact.pk}/edit", {**scope, "text": "The treasury multisig needs 2 of 4."}
    )
    assert edited.status_code == 200, edited.content
    new_id = edited.json()["id"]
    assert edited.json()["origin"] == "edited" and edited.json()["sources"]
    history = client.get(f"{BASE}/facts/{new_id}", query_params=scope).json()
    assert [v["text"] for v in history["versions"]] == [
        "The treasury multisig needs 2 of 3.",
        "The treasury multisig needs 2 of 4.",
    ]
    assert history["versions"][0]["status"] == "superseded"
    assert FactEmbedding.objects.filter(fact_id=new_id).exists()

    wrong = _post(client, f"/facts/{new_id}/incorrect", scope)
    assert wrong.json()["status"] == "incorrect"
    found = _post(client, "/facts/query", {**scope, "query": "treasury multisig"}).json()
    assert found["items"] == []
    as_of = _post(
        client,
        "/facts/query",
        {**scope, "query": "treasury multisig", "as_of": dt.datetime.now(dt.UTC).isoformat()},
    ).json()
    assert as_of["items"] == []  # incorrect is never retrieved, not even with as_of
    assert FactAudit.objects.filter(action__in=["edit", "incorrect"]).count() == 2
    again = _post(client, f"/facts/{fact.pk}/edit", {**scope, "text": "x"})
    assert again.status_code == 400  # only the current version can be edited
    bad = _post(client, f"/facts/{new_id}/edit", {**scope, "text": ""})
    assert bad.status_code == 400 and "error" in bad.json()


def test_tenant_isolation(client, extract_route, upstream):
    _script_treasury(upstream)
    store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")
    run_worker()
    fact = Fact.objects.get()
    for agent, microdao in (("agent:oleh", ALPHA), ("agent:bohdan", "microdao:beta")):
        scope = {"agent_id": agent, "microdao_id": microdao}
        found = _post(client, "/facts/query", {**scope, "query": "treasury multisig"}).json()
        assert found["items"] == []
        assert client.get(f"{BASE}/facts/{fact.pk}", query_params=scope).status_code == 404
        assert _post(client, f"/facts/{fact.pk}/incorrect", scope).status_code == 404
        edit = _post(client, f"/facts/{fact.pk}/edit", {**scope, "text": "hijacked"})
        assert edit.status_code == 404
    mismatched = {"agent_id": SOFIA, "microdao_id": "microdao:beta"}
    assert _post(client, "/facts/query", {**mismatched, "query": "x"}).status_code == 403
    fact.refresh_from_db()
    assert fact.status == "current"


def test_extraction_is_off_when_only_the_offline_provider_is_configured(tenants, admin_client):
    from llm.models import Provider, ProviderKind
    from memory.facts.config import facts_config_cache, facts_config_get
    from memory.facts.models import FactSettings
    from tests.llm.factories import make_route

    offline = Provider.objects.get(kind=ProviderKind.OFFLINE)
    make_route("memory-extract", offline)
    facts_config_cache.invalidate()
    config = facts_config_get(microdao_id=ALPHA)
    assert not config.enabled and "only the offline provider" in config.reason
    store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")
    assert DBTaskResult.objects.count() == 0  # nothing enqueued: the write path is unchanged
    page = admin_client.get("/admin/facts/factsettings/").content.decode()
    assert "Fact extraction is off by default: route &#x27;memory-extract&#x27; reaches" in page
    FactSettings.objects.create(microdao=None)
    page = admin_client.get("/admin/facts/factsettings/").content.decode()
    assert "off: route &#x27;memory-extract&#x27; reaches only the offline provider" in page


def test_admin_shows_fact_history_and_a_memorys_derived_facts(
    admin_client, extract_route, upstream
):
    _script_treasury(upstream)
    first = store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3", at=T1)
    run_worker()
    store(SOFIA, ALPHA, "it now needs 3 of 5 signatures", at=T2)
    run_worker()
    new = Fact.objects.get(status="current")
    page = admin_client.get(f"/admin/facts/fact/{new.pk}/change/").content.decode()
    assert "needs 2 of 3" in page and "needs 3 of 5" in page and "memory #" in page
    memory_page = admin_client.get(f"/admin/memory/memory/{first}/change/").content.decode()
    assert "derived facts" in memory_page.lower() and "needs 2 of 3" in memory_page

    # An operator's edit is a new version (the change form's save).
    response = admin_client.post(
        f"/admin/facts/fact/{new.pk}/change/",
        {"subject": "treasury multisig", "text": "The treasury multisig needs 4 of 7."},
    )
    assert response.status_code == 302
    assert Fact.objects.get(status="current").text == "The treasury multisig needs 4 of 7."
    assert Fact.objects.filter(status="superseded").count() == 2
