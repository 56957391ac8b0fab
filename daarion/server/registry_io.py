"""The registry as code: microDAOs, agents, providers (no secrets), routes, tools and grants.

Each app owns its sections (daarion.agents / llm / toolcore `registry_file`); this module only
orchestrates them. `registry_export()` gives plain data for a YAML file; `registry_import()`
validates every section first and writes nothing if anything is wrong, then upserts by natural
key in one transaction, so importing the same file twice changes nothing. Rows absent from the
file are left alone (import never deletes).

Import-only conveniences (never produced by export):
- `${NAME}` / `${NAME:-default}` in any string is replaced by the environment variable NAME,
  else the Django setting NAME, else the default;
- a provider with `when_env: NAME` is imported only when NAME is set (its route targets are
  dropped otherwise), and `key_env: NAME` stores the value of NAME as the provider's key — so
  a committed file never holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db import transaction

from daarion.agents.registry_file import (
    agents_registry_apply,
    agents_registry_export,
    agents_registry_plan,
)
from daarion.common.input_rules import json_problem
from daarion.common.registry_file import env_expand, unknown_keys
from daarion.common.registry_stamp import registry_changed
from llm.registry_file import (
    llm_registry_apply,
    llm_registry_export,
    llm_registry_plan_providers,
    llm_registry_plan_routes,
)
from toolcore.registry_file import tools_registry_apply, tools_registry_export, tools_registry_plan

FORMAT_VERSION = 1
SECTIONS = ("microdaos", "agents", "providers", "routes", "mcp_servers", "tools", "grants")


class RegistryError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the registry file")
        self.problems = problems


@dataclass
class ImportSummary:
    counts: dict[str, int] = field(default_factory=dict)
    skipped_providers: list[str] = field(default_factory=list)


def registry_export() -> dict[str, Any]:
    sections = {**agents_registry_export(), **llm_registry_export(), **tools_registry_export()}
    return {"version": FORMAT_VERSION, **{name: sections[name] for name in SECTIONS}}


def registry_dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def registry_load_yaml(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError([f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise RegistryError(["the file must be a mapping with sections " + ", ".join(SECTIONS)])
    return data


def _entry_label(row: Any) -> str:
    if isinstance(row, dict):
        for key in ("id", "name", "tool_id"):
            value = row.get(key)
            if isinstance(value, str):
                return f" ({value!r})"
    return ""


def _unstorable_values(data: dict[str, Any]) -> list[str]:
    """The input rules of the API and admin (daarion/common/input_rules.py): NUL, lone
    surrogates and over-deep nesting, each named by section, entry and field path."""
    problems = []
    for key, value in data.items():
        rows = value if key in SECTIONS and isinstance(value, list) else None
        entries = enumerate(rows) if rows is not None else [(None, value)]
        for i, row in entries:
            where = f"{key}[{i}]{_entry_label(row)}" if i is not None else str(key)
            found = json_problem(row)
            if found is not None:
                path, what = found
                field = "" if path == "body" else f".{path}"
                problems.append(f"{where}{field}: {what}")
        found = json_problem(key)
        if found is not None:
            problems.append(f"{key!r}: section name {found[1]}")
    return problems


def registry_import(data: dict[str, Any], *, dry_run: bool = False) -> ImportSummary:
    """Validate `data` completely, then (unless `dry_run`) write it in one transaction."""
    # First: a value the database would refuse must not reach the lookups of the planning below.
    problems = _unstorable_values(data)
    if problems:
        raise RegistryError(problems)
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        problems.append(f"version: {version!r} is not supported (expected {FORMAT_VERSION})")
    unknown_keys(data, ("version", *SECTIONS), "file", problems)
    # Providers are planned from the raw file (`when_env` first), the rest after expansion.
    llm = llm_registry_plan_providers(data=data, problems=problems)
    data = env_expand({k: v for k, v in data.items() if k != "providers"}, "file", problems)
    agents = agents_registry_plan(data=data, problems=problems)
    llm_registry_plan_routes(data=data, plan=llm, problems=problems)
    tools = tools_registry_plan(data=data, agent_ids=agents.agent_ids, problems=problems)
    if problems:
        raise RegistryError(problems)
    summary = ImportSummary(
        counts={
            "microdaos": len(agents.microdaos),
            "agents": len(agents.agents),
            "providers": len(llm.providers),
            "routes": len(llm.routes),
            "mcp_servers": len(tools.mcp_servers),
            "tools": len(tools.tools),
            "grants": len(tools.grants),
        },
        skipped_providers=llm.skipped_providers,
    )
    if dry_run:
        return summary
    with transaction.atomic():
        agents_registry_apply(plan=agents)
        llm_registry_apply(plan=llm)
        tools_registry_apply(plan=tools)
        registry_changed()  # even if no row signal fired: other processes reload after commit
    return summary
