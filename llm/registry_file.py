"""The LLM gateway's sections of the registry file: `providers` (no secrets) and `routes`.

Import-only conveniences: a provider with `when_env: NAME` is imported only when NAME is set
(route targets naming it are dropped otherwise); `key_env: NAME` stores the value of NAME as the
provider's key, so a committed file never holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daarion.common.registry_file import (
    decimal_or_none,
    env_expand,
    env_lookup,
    full_clean,
    plain,
    section_rows,
    unknown_keys,
)
from llm.models import ModelRoute, Provider, RouteKind, RouteTarget
from llm.services import provider_key_ensure, provider_upsert, route_upsert

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


@dataclass
class LlmPlan:
    providers: list[dict] = field(default_factory=list)
    provider_keys: dict[str, str] = field(default_factory=dict)
    routes: list[dict] = field(default_factory=list)
    skipped_providers: list[str] = field(default_factory=list)


def llm_registry_export() -> dict[str, list[dict[str, Any]]]:
    targets = RouteTarget.objects.select_related("provider").order_by("route_id", "priority", "id")
    targets_by_route: dict[str, list[dict]] = {}
    for target in targets:
        spec = {name: plain(getattr(target, name)) for name in TARGET_FIELDS if name != "provider"}
        targets_by_route.setdefault(target.route.name, []).append(
            {"provider": target.provider.name, **spec}
        )
    return {
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
    }


def llm_registry_plan_providers(*, data: dict[str, Any], problems: list[str]) -> LlmPlan:
    """Plan the `providers` of the raw (unexpanded) file: `when_env` decides which exist
    before any `${}` in them is expanded."""
    plan = LlmPlan()
    for i, row in enumerate(section_rows(data, "providers", problems)):
        path = f"providers[{i}]"
        unknown_keys(row, PROVIDER_FIELDS + PROVIDER_IMPORT_ONLY, path, problems)
        when = row.get("when_env")
        if when and not env_lookup(when, None):
            plan.skipped_providers.append(str(row.get("name")))
            continue
        row = env_expand(row, path, problems)
        key_env = row.pop("key_env", None)
        row.pop("when_env", None)
        fields = {name: row[name] for name in PROVIDER_FIELDS if name in row}
        full_clean(Provider(**fields), path, problems)
        if key_env:
            secret = env_lookup(key_env, None)
            if secret:
                plan.provider_keys[fields.get("name", "")] = secret
            else:
                problems.append(f"{path}.key_env: {key_env} is not set")
        plan.providers.append(fields)
    return plan


def _target_plan(target: dict, route: ModelRoute, path: str, problems: list[str]) -> dict:
    spec = {name: target[name] for name in TARGET_FIELDS if name in target and name != "provider"}
    for price in ("input_price_per_1m", "output_price_per_1m"):
        if price in spec:
            spec[price] = decimal_or_none(spec[price], f"{path}.{price}", problems)
    full_clean(RouteTarget(route=route, **spec), path, problems, exclude=["route", "provider"])
    return {"provider": target.get("provider"), **spec}


def llm_registry_plan_routes(*, data: dict[str, Any], plan: LlmPlan, problems: list[str]) -> None:
    """Add the (expanded) `routes` to `plan`; targets of skipped providers are dropped."""
    provider_names = set(Provider.objects.values_list("name", flat=True)) | {
        p.get("name") for p in plan.providers
    }
    for i, row in enumerate(section_rows(data, "routes", problems)):
        path = f"routes[{i}]"
        unknown_keys(row, ROUTE_FIELDS, path, problems)
        route_fields = {
            name: row[name] for name in ROUTE_FIELDS if name in row and name != "targets"
        }
        route = ModelRoute(**route_fields)
        full_clean(route, path, problems)
        targets = []
        for j, target in enumerate(row.get("targets") or []):
            target_path = f"{path}.targets[{j}]"
            unknown_keys(target, TARGET_FIELDS, target_path, problems)
            provider = target.get("provider")
            if provider in plan.skipped_providers:
                continue
            if provider not in provider_names:
                problems.append(f"{target_path}.provider: unknown provider {provider!r}")
            targets.append(_target_plan(target, route, target_path, problems))
        if not targets:
            problems.append(f"{path}.targets: a route needs at least one (enabled) target")
        plan.routes.append(
            {**route_fields, "kind": route_fields.get("kind", RouteKind.CHAT), "targets": targets}
        )


def llm_registry_apply(*, plan: LlmPlan) -> None:
    """Upsert the planned providers, keys and routes (the caller holds the transaction)."""
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
            enabled=route.get("enabled", True),
        )
