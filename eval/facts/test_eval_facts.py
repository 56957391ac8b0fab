"""`make eval-facts`: the labelled update cases (cases.yaml, EN + UK) through the real pipeline.

Each case gets its own agent; its messages are stored a day apart and a worker runs after each
one (updates arrive in order, as in a conversation). Scripted mode (default, CI): the model is
tests/memory/facts/scripted_upstream.py over HTTP — extraction answers the case's labelled
`extract`, decisions come from its subject-based judge. EVAL_FACTS_REAL=1 uses a real model:
OPENAI_API_KEY (EVAL_FACTS_MODEL, default gpt-4.1-mini) or OLLAMA_BASE_URL (default
llama3.2). Prints the table and writes eval/facts/results/facts.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from memory.facts.models import Fact, FactStatus
from tests.memory.facts.support import make_extract_route, run_worker, store

HERE = Path(__file__).parent
REAL = os.environ.get("EVAL_FACTS_REAL") == "1"
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _cases() -> list[dict]:
    return yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))["cases"]


def _real_route() -> str:
    from llm.models import ModelRoute, Provider, ProviderKey, ProviderKind, RouteKind
    from llm.registry import registry_invalidate

    if os.environ.get("OPENAI_API_KEY"):
        provider = Provider.objects.create(name="eval-openai", kind=ProviderKind.OPENAI)
        ProviderKey.objects.create(provider=provider, secret=os.environ["OPENAI_API_KEY"])
        model = os.environ.get("EVAL_FACTS_MODEL", "gpt-4.1-mini")
    elif os.environ.get("OLLAMA_BASE_URL"):
        provider = Provider.objects.create(
            name="eval-ollama",
            kind=ProviderKind.OLLAMA,
            base_url=os.environ["OLLAMA_BASE_URL"].rstrip("/") + "/v1",
            timeout_seconds=120,
        )
        model = os.environ.get("EVAL_FACTS_MODEL", "llama3.2")
    else:
        pytest.skip("EVAL_FACTS_REAL=1 needs OPENAI_API_KEY or OLLAMA_BASE_URL")
    route = ModelRoute.objects.create(name="memory-extract", kind=RouteKind.CHAT)
    route.targets.create(provider=provider, physical_model=model)
    registry_invalidate()
    return f"{provider.kind}:{model}"


def _run_case(case: dict, index: int) -> list[str]:
    from tests.factories import AgentFactory

    agent = AgentFactory(id=f"agent:eval-{index:03d}", microdao_id="microdao:eval")
    for step, message in enumerate(case["steps"]):
        store(agent.id, "microdao:eval", message["say"], at=T0 + dt.timedelta(days=step))
        run_worker()
    return list(
        Fact.objects.filter(agent=agent, status=FactStatus.CURRENT).values_list("text", flat=True)
    )


def _table(rows: dict[str, dict]) -> str:
    names = list(next(iter(rows.values())))
    lines = ["| cases | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [
        f"| {group} | " + " | ".join(str(r[n]) for n in names) + " |" for group, r in rows.items()
    ]
    return "\n".join(lines)


@pytest.mark.django_db(transaction=True)
def test_fact_update_eval(settings, capsys):
    from facts_metrics import Score, score_case

    from memory.facts.config import facts_config_cache
    from tests.factories import MicroDAOFactory
    from tests.memory.factories import make_offline_embed_route
    from tests.memory.facts.scripted_upstream import ScriptedUpstream

    settings.LLM_RETRIES_PER_TARGET = 0
    cases = _cases()
    assert len(cases) >= 50
    make_offline_embed_route()
    MicroDAOFactory(id="microdao:eval")
    with ExitStack() as stack:
        if REAL:
            model = _real_route()
        else:
            upstream = ScriptedUpstream()
            for case in cases:
                for message in case["steps"]:
                    upstream.rules[message["say"]] = [
                        {"subject": subject, "text": text} for subject, text in message["extract"]
                    ]
            make_extract_route(stack.enter_context(upstream.serve()))
            model = "scripted"
        facts_config_cache.invalidate()
        totals, groups = Score(), defaultdict(Score)
        for index, case in enumerate(cases):
            score = score_case(case, _run_case(case, index))
            totals.add(score)
            groups[f"{case['lang']} {case['category']}"].add(score)
            groups[f"all {case['lang']}"].add(score)
    rows = {"all": totals.row()} | {name: groups[name].row() for name in sorted(groups)}
    report = {"model": model, "cases": len(cases), "table": rows, "failures": totals.failures}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "facts.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    with capsys.disabled():
        print(f"\nfacts eval ({model}, {len(cases)} cases)\n" + _table(rows))
        for failure in totals.failures:
            print("  -", failure)
    if not REAL:  # the scripted pipeline must not regress
        overall = totals.row()
        assert overall["current_fact_accuracy"] >= 0.95
        assert overall["facts_lost"] == 0
        assert overall["superseded_leakage"] <= 0.1
        assert overall["duplicate_rate"] <= 0.1
