from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from daarion.agents.models import ServiceToken
from daarion.agents.services import hash_token
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def test_create_service_token_prints_token_alone_on_last_line():
    agent = AgentFactory(id="agent:sofia")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_service_token",
        "--name",
        "rt",
        "--scopes",
        "llm,tools",
        "--agent",
        agent.id,
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip().splitlines()[-1]
    token = ServiceToken.objects.get(name="rt")
    assert token.token_hash == hash_token(raw)
    assert sorted(token.scopes) == ["llm", "tools"]
    assert token.agent_id == "agent:sofia"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--scopes", "llm,bogus"], "Unknown scope"),
        (["--scopes", "llm", "--agent", "agent:nobody"], "Unknown agent"),
    ],
)
def test_create_service_token_rejects_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command(
            "create_service_token", "--name", "x", *args, stdout=io.StringIO(), stderr=io.StringIO()
        )


# Transactional: the demo seeders embed through the LLM gateway, whose usage rows are written by
# a background thread (committed outside a test transaction); the flush at the end removes them.
@pytest.mark.django_db(transaction=True)
def test_bootstrap_demo_is_idempotent(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    first = io.StringIO()
    call_command("bootstrap_demo", stdout=first)
    assert "with password:" in first.getvalue()
    second = io.StringIO()
    call_command("bootstrap_demo", stdout=second)
    assert "password unchanged" in second.getvalue()
    from daarion.agents.models import Agent

    assert Agent.objects.get(pk="agent:sofia").microdao_id == "microdao:daarion"
    from llm.usage import usage_flush

    usage_flush()
