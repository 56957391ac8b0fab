"""One access policy for "may this request act as this agent (in this microDAO)?".

Every app and API asks this one function, so an agent is refused the same way everywhere:

| case                                              | status | error type          |
|---------------------------------------------------|--------|---------------------|
| unknown agent                                     | 404    | `agent_not_found`   |
| bound service token acting as another agent       | 403    | `permission_denied` |
| inactive agent                                    | 403    | `agent_inactive`    |
| agent outside the microDAO the request names      | 403    | `agent_not_in_microdao` |

403 (not 409) for an inactive agent: the request is well-formed but this caller may not act as
that agent now; 404 only when the agent does not exist at all. The bound-token check comes
before any lookup, so a bound token learns nothing about other agents.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async

from daarion.agents.selectors import AgentInfo, agent_aget, agent_cache, agent_get
from daarion.agents.types import Caller
from daarion.common.db import release_connection
from daarion.common.errors import NotFound, PermissionDenied


class AgentNotFound(NotFound):
    error_type = "agent_not_found"


class AgentInactive(PermissionDenied):
    error_type = "agent_inactive"


class AgentNotInMicroDAO(PermissionDenied):
    error_type = "agent_not_in_microdao"


def _check(agent: AgentInfo | None, *, agent_id: str, microdao_id: str | None) -> AgentInfo:
    if agent is None:
        raise AgentNotFound(f"Unknown agent '{agent_id}'.")
    if not agent.is_active:
        raise AgentInactive(f"Agent '{agent_id}' is not active.")
    if microdao_id and microdao_id != agent.microdao_id:
        raise AgentNotInMicroDAO(
            f"Agent '{agent_id}' belongs to microDAO '{agent.microdao_id}', not '{microdao_id}'."
        )
    return agent


def agent_access_check(
    *, agent_id: str, microdao_id: str | None = None, caller: Caller | None = None
) -> AgentInfo:
    """The agent a request may act as, or the policy's ApiError (see the module docstring)."""
    if caller is not None:
        caller.ensure_can_act_as(agent_id)
    return _check(agent_get(agent_id=agent_id), agent_id=agent_id, microdao_id=microdao_id)


async def agent_access_acheck(
    *, agent_id: str, microdao_id: str | None = None, caller: Caller | None = None
) -> AgentInfo:
    """`agent_access_check` for async code; a cache miss's DB connection is released after."""
    if caller is not None:
        caller.ensure_can_act_as(agent_id)
    if agent_cache.peek(agent_id) is None:
        agent = await agent_aget(agent_id=agent_id)
        await sync_to_async(release_connection)()
    else:
        agent = await agent_aget(agent_id=agent_id)
    return _check(agent, agent_id=agent_id, microdao_id=microdao_id)
