"""Admission: is this request well-formed, and may it run now?

    the request's shape → the logical model (route) → the agent (one access policy, in
    daarion.agents.access) → the agent's rate limit → the microDAO's monthly budget.

Everything here reads per-process caches (registry, agents, budgets); a refusal raises an
llm.errors.* ApiError before any provider is called.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from daarion.agents.access import agent_access_acheck
from llm import errors
from llm.budget import budget_acheck
from llm.gateway.call import Call
from llm.limits import agent_rate_limit_hit
from llm.models import RouteKind
from llm.registry import RouteInfo, registry_aget
from llm.types import ChatRequest


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


def embed_texts_validate(texts: list[str], input_type: str | None = None) -> None:
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise errors.InvalidLlmRequest("'texts' must be a list of strings.")
    if not texts:
        raise errors.InvalidLlmRequest("'texts' must not be empty.")
    if input_type not in (None, "query", "passage"):
        raise errors.InvalidLlmRequest("'input_type' must be 'query' or 'passage'.")


async def admit(call: Call, *, model: str, rate_limited: bool) -> RouteInfo:
    """The route of `model` for `call.kind`, once the agent and budget checks pass.

    Sets `call.microdao_id` from the agent as soon as it is known, so that a refusal's usage
    row names the microDAO too. `rate_limited`: count the request against the agent's limit.
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
            retry_after = agent_rate_limit_hit(agent_id=agent_id, rate=agent.rate_limit)
            if retry_after is not None:
                raise errors.AgentRateLimited(
                    f"Agent '{agent_id}' exceeded its rate limit of {agent.rate_limit}.",
                    retry_after=retry_after,
                    details={"rate_limit": agent.rate_limit},
                )
    if call.microdao_id:
        over = await budget_acheck(microdao_id=call.microdao_id)
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
