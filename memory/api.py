"""HTTP router of the memory orchestrator: /internal/agent-memory/*."""

from ninja import Router

router = Router()
