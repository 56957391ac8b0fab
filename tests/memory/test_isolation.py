"""Tenant isolation: no tier, and not the admin search, returns another tenant's memories."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client

from daarion.agents.models import MicroDAO
from memory.knowledge import document_ingest
from memory.models import Memory
from memory.selectors import memory_query
from memory.services import memory_store

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "banana launch code"


@pytest.fixture
def populated(tenants):
    ids = {}
    for agent in ("sofia", "oleh", "bohdan"):
        info = tenants[agent]
        for n in range(3):
            result = async_to_sync(memory_store)(
                agent_id=info.id,
                microdao_id=info.microdao_id,
                channel_id="shared-channel",  # the same channel name in every tenant
                user_message=f"{agent} asks about the {SECRET} number {n}",
                agent_reply=f"The {SECRET} of {agent} is private.",
            )
            ids.setdefault(agent, set()).update(result.ids)
    for microdao, agent, title in [
        ("microdao:alpha", None, "alpha handbook"),
        ("microdao:alpha", "agent:oleh", "oleh notes"),
        ("microdao:beta", None, "beta handbook"),
    ]:
        async_to_sync(document_ingest)(
            microdao_id=microdao,
            agent_id=agent,
            title=title,
            text=f"# {title}\n\nThe {SECRET} is kept in the {title}.",
            source=f"test:{title}",
        )
    return ids


def _ask(agent, microdao, **kwargs):
    return async_to_sync(memory_query)(
        agent_id=agent,
        microdao_id=microdao,
        query=SECRET,
        limit=50,
        channel_id="shared-channel",
        **kwargs,
    )


def _owners(result):
    return {(item.tier, item.text.split(" ")[1]) for item in result.items}


def test_every_tier_stays_inside_the_agent_and_microdao(populated):
    result = _ask("agent:sofia", "microdao:alpha")
    tiers = {item.tier for item in result.items}
    assert tiers == {"short", "long"} or tiers == {"short", "mid", "long"}
    memory_ids = {item.id for item in result.items if item.tier in ("short", "mid")}
    assert memory_ids == populated["sofia"]
    long_texts = [item.text for item in result.items if item.tier == "long"]
    assert long_texts and all("alpha handbook" in text for text in long_texts)
    # Only the mid tier (short excluded) still returns nothing foreign.
    mid = _ask("agent:sofia", "microdao:alpha", tiers=["mid"])
    assert {item.id for item in mid.items} == populated["sofia"]
    beta = _ask("agent:bohdan", "microdao:beta")
    assert {item.id for item in beta.items if item.tier != "long"} == populated["bohdan"]
    assert all("beta handbook" in i.text for i in beta.items if i.tier == "long")


def test_isolation_holds_without_vectors_too(populated, settings):
    # Full text alone (as when the embedding route is down) is filtered the same way.
    settings.MEMORY_DEFAULT_EMBEDDING_MODEL = "no-such-route"
    from memory.models import MemorySettings

    MemorySettings.objects.update(serving_model="no-such-route")
    from memory.config import config_cache

    config_cache.invalidate()
    result = _ask("agent:bohdan", "microdao:beta", tiers=["mid", "long"])
    assert {item.id for item in result.items if item.tier == "mid"} == populated["bohdan"]
    assert all("beta handbook" in i.text for i in result.items if i.tier == "long")


def test_a_microdao_sharing_memory_shares_it_among_its_agents_only(populated):
    MicroDAO.objects.filter(pk="microdao:alpha").update(shares_memory=True)
    from daarion.agents.selectors import agent_cache

    agent_cache.invalidate()
    result = _ask("agent:sofia", "microdao:alpha", tiers=["mid", "short"])
    ids = {item.id for item in result.items}
    assert ids == populated["sofia"] | populated["oleh"]
    long_texts = {item.text for item in _ask("agent:sofia", "microdao:alpha").items}
    assert any("oleh notes" in text for text in long_texts)
    assert not any("beta" in text for text in long_texts)


def test_the_admin_search_is_confined_to_the_chosen_microdao_and_agent(populated):
    admin = get_user_model().objects.create_superuser("root", "", "pw")
    client = Client()
    client.force_login(admin)
    url = "/admin/memory/memory/"

    def listed(params):
        response = client.get(url, params)
        assert response.status_code == 200
        return {int(pk) for pk in re.findall(r"/admin/memory/memory/(\d+)/change/", response.text)}

    alpha = listed({"q": SECRET, "microdao__id__exact": "microdao:alpha"})
    alpha_memories = set(
        Memory.objects.filter(microdao_id="microdao:alpha").values_list("pk", flat=True)
    )
    assert alpha and alpha <= alpha_memories
    assert {str(pk) for pk in alpha} >= populated["sofia"] | populated["oleh"]
    sofia = listed(
        {"q": SECRET, "microdao__id__exact": "microdao:alpha", "agent__id__exact": "agent:sofia"}
    )
    sofia_or_shared = set(
        Memory.objects.filter(
            microdao_id="microdao:alpha", agent_id__in=["agent:sofia", None]
        ).values_list("pk", flat=True)
    )
    sofia_or_shared |= set(
        Memory.objects.filter(microdao_id="microdao:alpha", agent__isnull=True).values_list(
            "pk", flat=True
        )
    )
    assert sofia and sofia <= sofia_or_shared
    assert {str(pk) for pk in sofia} >= populated["sofia"]
    # No microDAO chosen: no cross-tenant search at all.
    response = client.get(url, {"q": SECRET})
    assert "Choose a microDAO" in response.text
    assert listed({"q": SECRET}) == set()
    # Browsing without a search lists everything for the operator, as usual.
    assert len(listed({})) == Memory.objects.count()
