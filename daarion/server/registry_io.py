"""The registry as code: microDAOs, agents, providers (no secrets), routes, tools and grants.

`registry_export()` gives plain data for a YAML file; `registry_import()` validates the whole
file first and writes nothing if anything is wrong, then upserts by natural key in one
transaction, so importing the same file twice changes nothing. Rows absent from the file are left
alone (import never deletes).

Import-only conveniences (never produced by export):
- `${NAME}` / `${NAME:-default}` in any string is replaced by the environment variable NAME,
  else the Django setting NAME, else the default;
- a provider with `when_env: NAME` is imported only when NAME is set (its route targets are
  dropped otherwise), and `key_env: NAME` stores the value of NAME as the provider's key — so
  a committed file never holds a secret.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from daarion.agents.models import Agent, MicroDAO
from daarion.agents.services import agent_upsert, microdao_upsert
from llm.models import ModelRoute, Provider, RouteKind, RouteTarget
from llm.services import provider_key_ensure, provider_upsert, route_upsert
from toolcore.ids import openai_name_for
from toolcore.models import Tool
from toolcore.selectors import tool_registry_export
from toolcore.services import tool_definition_problems, tool_grant, tool_import

FORMAT_VERSION = 1
SECTIONS = ("microdaos", "agents", "providers", "routes", "tools", "grants")
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
PROVIDER_FIELDS = ("name", "kind", "base_url", "timeout_seconds", "enabled")
PROVIDER_IMPORT_ONLY = ("when_env", "key_env")
ROUTE_FIELDS = ("name", "kind", "description", "enabled", "targets")
TARGET_FIELDS = (
    "provider",
    "physical_model",
    "priority",
    "weight",
    "input_price_per_1m",
    "output_price_per_1m",
    "dimensions",
    "enabled",
)
_ENV_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")


class RegistryError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the registry file")
        self.problems = problems


@dataclass
class ImportSummary:
    counts: dict[str, int] = field(default_factory=dict)
    skipped_providers: list[str] = field(default_factory=list)


# --- export ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    return value


def registry_export() -> dict[str, Any]:
    targets = RouteTarget.objects.select_related("provider").order_by("route_id", "priority", "id")
    targets_by_route: dict[str, list[dict]] = {}
    for target in targets:
        spec = {name: _plain(getattr(target, name)) for name in TARGET_FIELDS if name != "provider"}
        targets_by_route.setdefault(target.route.name, []).append(
            {"provider": target.provider.name, **spec}
        )
    tools = tool_registry_export()
    return {
        "version": FORMAT_VERSION,
        "microdaos": [
            {name: _plain(getattr(m, name)) for name in MICRODAO_FIELDS}
            for m in MicroDAO.objects.order_by("id")
        ],
        "agents": [
            {
                **{name: getattr(a, name) for name in AGENT_FIELDS if name != "microdao"},
                "microdao": a.microdao_id,
            }
            for a in Agent.objects.order_by("id")
        ],
        "providers": [
            {name: getattr(p, name) for name in PROVIDER_FIELDS}
            for p in Provider.objects.order_by("name")
        ],
        "routes": [
            {
                "name": r.name,
                "kind": r.kind,
                "description": r.description,
                "enabled": r.enabled,
                "targets": targets_by_route.get(r.name, []),
            }
            for r in ModelRoute.objects.order_by("name")
        ],
        "tools": tools["tools"],
        "grants": tools["grants"],
    }


def registry_dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# --- import ------------------------------------------------------------------------------------


def registry_load_yaml(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError([f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise RegistryError(["the file must be a mapping with sections " + ", ".join(SECTIONS)])
    return data


def _lookup(name: str, default: str | None) -> str | None:
    if name in os.environ:
        return os.environ[name]
    value = getattr(settings, name, None)
    if isinstance(value, str) and value:
        return value
    return default


def _expand(value: Any, path: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match) -> str:
            resolved = _lookup(match[1], match[2])
            if resolved is None:
                problems.append(f"{path}: ${{{match[1]}}} is not set")
                return ""
            return resolved

        return _ENV_REF.sub(replace, value)
    if isinstance(value, list):
        return [_expand(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _expand(item, f"{path}.{key}", problems) for key, item in value.items()}
    return value


def _rows(data: dict, section: str, problems: list[str]) -> list[dict]:
    rows = data.get(section) or []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        problems.append(f"{section}: must be a list of mappings")
        return []
    return rows


def _unknown_keys(row: dict, allowed: tuple[str, ...], path: str, problems: list[str]) -> None:
    unknown = sorted(set(row) - set(allowed))
    if unknown:
        problems.append(
            f"{path}: unknown keys {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )


def _full_clean(instance, path: str, problems: list[str], exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            prefix = path if name == "__all__" else f"{path}.{name}"
            problems.extend(f"{prefix}: {message}" for message in messages)


def _decimal(value: Any, path: str, problems: list[str]) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{path}: {value!r} is not a number")
        return None


@dataclass
class _Plan:
    microdaos: list[dict] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)
    providers: list[dict] = field(default_factory=list)
    provider_keys: dict[str, str] = field(default_factory=dict)
    routes: list[dict] = field(default_factory=list)
    tools: list[dict] = field(default_factory=list)
    grants: list[dict] = field(default_factory=list)
    skipped_providers: list[str] = field(default_factory=list)


def _plan(data: dict[str, Any]) -> tuple[_Plan, list[str]]:
    problems: list[str] = []
    plan = _Plan()
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        problems.append(f"version: {version!r} is not supported (expected {FORMAT_VERSION})")
    _unknown_keys(data, ("version", *SECTIONS), "file", problems)

    # Providers first: `when_env` decides which exist before any ${} in them is expanded.
    for i, row in enumerate(_rows(data, "providers", problems)):
        path = f"providers[{i}]"
        _unknown_keys(row, PROVIDER_FIELDS + PROVIDER_IMPORT_ONLY, path, problems)
        when = row.get("when_env")
        if when and not _lookup(when, None):
            plan.skipped_providers.append(str(row.get("name")))
            continue
        row = _expand(row, path, problems)
        key_env = row.pop("key_env", None)
        row.pop("when_env", None)
        fields = {name: row[name] for name in PROVIDER_FIELDS if name in row}
        _full_clean(Provider(**fields), path, problems)
        if key_env:
            secret = _lookup(key_env, None)
            if secret:
                plan.provider_keys[fields.get("name", "")] = secret
            else:
                problems.append(f"{path}.key_env: {key_env} is not set")
        plan.providers.append(fields)
    data = _expand({k: v for k, v in data.items() if k != "providers"}, "file", problems)

    microdao_ids = set(MicroDAO.objects.values_list("id", flat=True))
    for i, row in enumerate(_rows(data, "microdaos", problems)):
        path = f"microdaos[{i}]"
        _unknown_keys(row, MICRODAO_FIELDS, path, problems)
        fields = {name: row[name] for name in MICRODAO_FIELDS if name in row}
        if "monthly_budget_usd" in fields:
            fields["monthly_budget_usd"] = _decimal(
                fields["monthly_budget_usd"], f"{path}.monthly_budget_usd", problems
            )
        _full_clean(MicroDAO(**fields), path, problems)
        microdao_ids.add(fields.get("id"))
        plan.microdaos.append(fields)

    agent_ids = set(Agent.objects.values_list("id", flat=True))
    for i, row in enumerate(_rows(data, "agents", problems)):
        path = f"agents[{i}]"
        _unknown_keys(row, AGENT_FIELDS, path, problems)
        fields = {name: row[name] for name in AGENT_FIELDS if name in row}
        microdao = fields.pop("microdao", None)
        if microdao not in microdao_ids:
            problems.append(f"{path}.microdao: unknown microDAO {microdao!r}")
        _full_clean(Agent(microdao_id=microdao, **fields), path, problems, exclude=["microdao"])
        agent_ids.add(fields.get("id"))
        plan.agents.append({"microdao_id": microdao, **fields})

    provider_names = set(Provider.objects.values_list("name", flat=True)) | {
        p.get("name") for p in plan.providers
    }
    for i, row in enumerate(_rows(data, "routes", problems)):
        path = f"routes[{i}]"
        _unknown_keys(row, ROUTE_FIELDS, path, problems)
        route_fields = {
            name: row[name] for name in ROUTE_FIELDS if name in row and name != "targets"
        }
        route = ModelRoute(**route_fields)
        _full_clean(route, path, problems)
        targets = []
        for j, target in enumerate(row.get("targets") or []):
            target_path = f"{path}.targets[{j}]"
            _unknown_keys(target, TARGET_FIELDS, target_path, problems)
            provider = target.get("provider")
            if provider in plan.skipped_providers:
                continue
            if provider not in provider_names:
                problems.append(f"{target_path}.provider: unknown provider {provider!r}")
            spec = {
                name: target[name]
                for name in TARGET_FIELDS
                if name in target and name != "provider"
            }
            for price in ("input_price_per_1m", "output_price_per_1m"):
                if price in spec:
                    spec[price] = _decimal(spec[price], f"{target_path}.{price}", problems)
            candidate = RouteTarget(route=route, **spec)
            _full_clean(candidate, target_path, problems, exclude=["route", "provider"])
            targets.append({"provider": provider, **spec})
        if not targets:
            problems.append(f"{path}.targets: a route needs at least one (enabled) target")
        plan.routes.append(
            {**route_fields, "kind": route_fields.get("kind", RouteKind.CHAT), "targets": targets}
        )

    tool_ids = set()
    for i, row in enumerate(_rows(data, "tools", problems)):
        path = f"tools[{i}]"
        for name, messages in tool_definition_problems(definition=row).items():
            prefix = path if name == "__all__" else f"{path}.{name}"
            problems.extend(f"{prefix}: {message}" for message in messages)
        tool_ids.add(row.get("tool_id"))
        plan.tools.append(row)

    # Grants may name a tool by its dotted id or its OpenAI name: compare mapped names.
    known_tools = set(Tool.objects.values_list("openai_name", flat=True))
    known_tools |= {openai_name_for(str(tool_id)) for tool_id in tool_ids}
    for i, row in enumerate(_rows(data, "grants", problems)):
        path = f"grants[{i}]"
        _unknown_keys(row, ("agent_id", "tool_id"), path, problems)
        if row.get("agent_id") not in agent_ids:
            problems.append(f"{path}.agent_id: unknown agent {row.get('agent_id')!r}")
        if openai_name_for(str(row.get("tool_id"))) not in known_tools:
            problems.append(f"{path}.tool_id: unknown tool {row.get('tool_id')!r}")
        plan.grants.append(row)
    return plan, problems


def registry_import(data: dict[str, Any], *, dry_run: bool = False) -> ImportSummary:
    """Validate `data` completely, then (unless `dry_run`) write it in one transaction."""
    plan, problems = _plan(data)
    if problems:
        raise RegistryError(problems)
    summary = ImportSummary(
        counts={
            "microdaos": len(plan.microdaos),
            "agents": len(plan.agents),
            "providers": len(plan.providers),
            "routes": len(plan.routes),
            "tools": len(plan.tools),
            "grants": len(plan.grants),
        },
        skipped_providers=plan.skipped_providers,
    )
    if dry_run:
        return summary
    with transaction.atomic():
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
        providers: dict[str, Provider] = {}
        for fields in plan.providers:
            fields = dict(fields)
            provider = provider_upsert(name=fields.pop("name"), kind=fields.pop("kind"), **fields)
            providers[provider.name] = provider
            if provider.name in plan.provider_keys:
                provider_key_ensure(
                    provider=provider, secret=plan.provider_keys[provider.name], label="env"
                )
        for route in plan.routes:
            targets = []
            for target in route["targets"]:
                target = dict(target)
                name = target.pop("provider")
                provider = providers.get(name) or Provider.objects.get(name=name)
                targets.append({"provider": provider, **target})
            route_upsert(
                name=route["name"],
                kind=route["kind"],
                targets=targets,
                description=route.get("description", ""),
            )
        for definition in plan.tools:
            tool_import(definition=definition)
        for grant in plan.grants:
            tool_grant(agent_id=grant["agent_id"], tool_id=grant["tool_id"])
    return summary
