"""The agents registry's sections of the registry file: `microdaos` and `agents`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daarion.agents.models import Agent, MicroDAO
from daarion.agents.services import agent_upsert, microdao_upsert
from daarion.common.registry_file import (
    decimal_or_none,
    full_clean,
    plain,
    section_rows,
    unknown_keys,
)

MICRODAO_FIELDS = ("id", "name", "monthly_budget_usd", "shares_memory")
AGENT_FIELDS = (
    "id",
    "microdao",
    "display_name",
    "system_prompt",
    "default_model",
    "rate_limit",
    "is_active",
)


@dataclass
class AgentsPlan:
    microdaos: list[dict] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)
    agent_ids: set = field(default_factory=set)  # existing and planned, for the grants


def agents_registry_export() -> dict[str, list[dict[str, Any]]]:
    return {
        "microdaos": [
            {name: plain(getattr(m, name)) for name in MICRODAO_FIELDS}
            for m in MicroDAO.objects.order_by("id")
        ],
        "agents": [
            {
                **{name: getattr(a, name) for name in AGENT_FIELDS if name != "microdao"},
                "microdao": a.microdao_id,
            }
            for a in Agent.objects.order_by("id")
        ],
    }


def agents_registry_plan(*, data: dict[str, Any], problems: list[str]) -> AgentsPlan:
    plan = AgentsPlan()
    microdao_ids = set(MicroDAO.objects.values_list("id", flat=True))
    for i, row in enumerate(section_rows(data, "microdaos", problems)):
        path = f"microdaos[{i}]"
        unknown_keys(row, MICRODAO_FIELDS, path, problems)
        fields = {name: row[name] for name in MICRODAO_FIELDS if name in row}
        if "monthly_budget_usd" in fields:
            fields["monthly_budget_usd"] = decimal_or_none(
                fields["monthly_budget_usd"], f"{path}.monthly_budget_usd", problems
            )
        full_clean(MicroDAO(**fields), path, problems)
        microdao_ids.add(fields.get("id"))  # type: ignore[arg-type]
        plan.microdaos.append(fields)

    plan.agent_ids = set(Agent.objects.values_list("id", flat=True))
    for i, row in enumerate(section_rows(data, "agents", problems)):
        path = f"agents[{i}]"
        unknown_keys(row, AGENT_FIELDS, path, problems)
        fields = {name: row[name] for name in AGENT_FIELDS if name in row}
        microdao = fields.pop("microdao", None)
        if microdao not in microdao_ids:
            problems.append(f"{path}.microdao: unknown microDAO {microdao!r}")
        full_clean(Agent(microdao_id=microdao, **fields), path, problems, exclude=["microdao"])
        plan.agent_ids.add(fields.get("id"))
        plan.agents.append({"microdao_id": microdao, **fields})
    return plan


def agents_registry_apply(*, plan: AgentsPlan) -> None:
    """Upsert the planned rows (the caller holds the transaction)."""
    for fields in plan.microdaos:
        fields = dict(fields)
        microdao_upsert(microdao_id=fields.pop("id"), name=fields.pop("name"), **fields)
    for fields in plan.agents:
        fields = dict(fields)
        agent_upsert(
            agent_id=fields.pop("id"),
            microdao_id=fields.pop("microdao_id"),
            display_name=fields.pop("display_name"),
            **fields,
        )
