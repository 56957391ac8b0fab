"""The authenticated caller, as every API handler sees it (`request.auth`)."""

from __future__ import annotations

from dataclasses import dataclass

from daarion.common.errors import PermissionDenied


@dataclass(frozen=True, slots=True)
class Caller:
    name: str  # "internal-secret" or the service token's name
    scopes: frozenset[str]
    agent_id: str | None = None  # a bound token acts only as this agent
    token_id: int | None = None

    @property
    def is_bound(self) -> bool:
        return self.agent_id is not None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def ensure_can_act_as(self, agent_id: str | None) -> None:
        """Raise 403 if this caller is bound to another agent than `agent_id`."""
        if self.agent_id is not None and agent_id is not None and agent_id != self.agent_id:
            raise PermissionDenied("This service token is bound to another agent.")

    def effective_agent_id(self, requested: str | None) -> str | None:
        """The agent a request acts as: the bound agent, else what the request names."""
        self.ensure_can_act_as(requested)
        return self.agent_id or requested


ALL_SCOPES = frozenset({"llm", "memory", "tools", "agents"})
INTERNAL_SECRET_CALLER = Caller(name="internal-secret", scopes=ALL_SCOPES)
