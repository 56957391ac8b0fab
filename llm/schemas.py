"""Request bodies of the gateway's HTTP APIs (ninja/pydantic). Unknown fields are kept: they are
OpenAI parameters passed through to the provider."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Plain pydantic models, not ninja.Schema: ninja's resolver wrapper drops unknown fields, and
# unknown fields here are OpenAI parameters that must reach the provider.
Schema = BaseModel


class Message(Schema):
    model_config = ConfigDict(extra="allow")

    role: str = Field(min_length=1, max_length=32)
    content: Any = None


class RequestMetadata(Schema):
    model_config = ConfigDict(extra="allow")

    agent_id: str | None = Field(default=None, max_length=64)
    microdao_id: str | None = Field(default=None, max_length=64)


class ChatBody(Schema):
    """Both /internal/llm/proxy and /v1/chat/completions."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=128)
    messages: list[Message] = Field(min_length=1)
    metadata: RequestMetadata | None = None
    stream: bool = False
    user: str | None = Field(default=None, max_length=256)

    def passthrough_params(self) -> dict[str, Any]:
        """Every OpenAI parameter besides ours (temperature, tools, tool_choice, …)."""
        params = dict(self.model_extra or {})
        if self.user is not None:
            params["user"] = self.user
        return params

    def message_dicts(self) -> list[dict]:
        return [m.model_dump(exclude_unset=False) for m in self.messages]


class EmbeddingsBody(Schema):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=128)
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="A string, a list of strings, a token array or a list of token arrays."
    )
    encoding_format: str = Field(default="float", pattern="^(float|base64)$")
    dimensions: int | None = Field(default=None, ge=1, le=65536)
    metadata: RequestMetadata | None = None
    user: str | None = Field(default=None, max_length=256)
