"""Admission: is this request well-formed, and may it run now?

    the request's shape → the logical model (route) → the agent (one access policy, in
    daarion.agents.access) → the agent's rate limit → the microDAO's monthly budget.

Everything here reads per-process caches (registry, agents, budgets); a refusal raises an
llm.errors.* ApiError before any provider is called.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import orjson
from django.conf import settings
from django.utils import timezone

from daarion.agents.access import agent_access_acheck
from llm import errors
from llm.budget import budget_areserve
from llm.gateway.call import Call
from llm.limits import agent_rate_limit_ahit
from llm.models import RouteKind
from llm.registry import RouteInfo, registry_aget
from llm.types import ChatRequest
from llm.usage import cost_usd


def chat_request_validate(request: ChatRequest) -> None:
    if not isinstance(request.model, str) or not request.model:
        raise errors.InvalidLlmRequest("'model' must be a non-empty string.")
    if not isinstance(request.messages, list) or not request.messages:
        raise errors.InvalidLlmRequest("'messages' must be a non-empty list.")
    for i, message in enumerate(request.messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise errors.InvalidLlmRequest(f"messages[{i}] must be an object with a 'role'.")
    if not isinstance(request.params, dict):
        raise errors.InvalidLlmRequest("'params' must be an object.")


def embed_texts_validate(texts: list[str] | list[list[int]], input_type: str | None = None) -> None:
    if not isinstance(texts, list) or not all(
        isinstance(t, str) or (isinstance(t, list) and all(type(i) is int for i in t))
        for t in texts
    ):
        raise errors.InvalidLlmRequest("'texts' must be a list of strings or token arrays.")
    if not texts:
        raise errors.InvalidLlmRequest("'texts' must not be empty.")
    if input_type not in (None, "query", "passage"):
        raise errors.InvalidLlmRequest("'input_type' must be 'query' or 'passage'.")


def max_cost(route: RouteInfo, *, prompt_chars: int, max_tokens: int | None) -> Decimal:
    """An upper estimate of a request's cost on the route's most expensive target: the prompt
    at LLM_BUDGET_CHARS_PER_TOKEN (2: generous, so estimates exceed real counts) and
    `max_tokens` (else LLM_BUDGET_DEFAULT_COMPLETION_TOKENS) of completion."""
    chars_per_token = max(1, getattr(settings, "LLM_BUDGET_CHARS_PER_TOKEN", 2))
    prompt_tokens = prompt_chars // chars_per_token + 1
    completion_tokens = (
        max_tokens
        if isinstance(max_tokens, int) and max_tokens >= 0
        else getattr(settings, "LLM_BUDGET_DEFAULT_COMPLETION_TOKENS", 1024)
    )
    return max(
        (
            cost_usd(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                input_price_per_1m=t.input_price_per_1m,
                output_price_per_1m=t.output_price_per_1m,
            )
            for t in route.targets
        ),
        default=Decimal(0),
    )


def chat_max_cost(request: ChatRequest) -> Callable[[RouteInfo], Decimal]:
    def estimate(route: RouteInfo) -> Decimal:
        params = request.params if isinstance(request.params, dict) else {}
        max_tokens = params.get("max_completion_tokens", params.get("max_tokens"))
        return max_cost(
            route, prompt_chars=len(orjson.dumps(request.messages)), max_tokens=max_tokens
        )

    return estimate


def embed_max_cost(texts: list[str] | list[list[int]]) -> Callable[[RouteInfo], Decimal]:
    return lambda route: max_cost(
        route, prompt_chars=sum(len(t) for t in texts if isinstance(t, str)), max_tokens=0
    )


async def admit(
    call: Call,
    *,
    model: str,
    rate_limited: bool,
    estimate: Callable[[RouteInfo], Decimal] | None = None,
) -> RouteInfo:
    """The route of `model` for `call.kind`, once the agent and budget checks pass.

    Sets `call.microdao_id` from the agent as soon as it is known, so that a refusal's usage
    row names the microDAO too. `rate_limited`: count the request against the agent's limit.
    `estimate(route)`: the request's maximum cost, reserved against the microDAO's budget
    (`call.reserved`) until accounting settles it.
    """
    registry = await registry_aget()
    route = registry.routes.get(model)
    if route is None or route.kind != call.kind:
        known = registry.known_models(call.kind)
        raise errors.UnknownModel(
            f"Unknown {'embedding ' if call.kind == RouteKind.EMBEDDING else ''}model '{model}'. "
            f"Known models: {', '.join(known) or '(none configured)'}.",
            details={"known_models": known},
        )
    if call.agent_id:
        agent_id = call.agent_id
        agent = await agent_access_acheck(agent_id=agent_id, microdao_id=call.microdao_id or None)
        call.microdao_id = agent.microdao_id
        if rate_limited:
            retry_after = await agent_rate_limit_ahit(agent_id=agent_id, rate=agent.rate_limit)
            if retry_after is not None:
                raise errors.AgentRateLimited(
                    f"Agent '{agent_id}' exceeded its rate limit of {agent.rate_limit}.",
                    retry_after=retry_after,
                    details={"rate_limit": agent.rate_limit},
                )
    if call.microdao_id:
        over, call.reserved = await budget_areserve(
            microdao_id=call.microdao_id,
            estimate=(lambda: estimate(route)) if estimate else (lambda: Decimal(0)),
        )
        if over is not None:
            budget, spent = over
            raise errors.BudgetExceeded(
                f"microDAO '{call.microdao_id}' has used its monthly LLM budget "
                f"(${budget} this month, ${spent.quantize(Decimal('0.0001'))} spent).",
                retry_after=_seconds_to_next_month(),
                details={"budget_usd": str(budget), "spent_usd": str(spent)},
            )
    if not route.targets:
        raise errors.NoEnabledTarget(f"Model '{model}' has no enabled target.")
    return route


def _seconds_to_next_month() -> float:
    now = timezone.now()
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return (
        now.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0) - now
    ).total_seconds()
