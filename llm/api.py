"""HTTP routers of the LLM gateway: /internal/llm/* and the OpenAI-compatible /v1/*."""

from ninja import Router

internal_router = Router()
openai_router = Router()
