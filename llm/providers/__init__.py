"""Provider adapters: one module per wire protocol, chosen by the provider's kind."""

from __future__ import annotations

from llm.models import ProviderKind
from llm.providers.base import LlmProvider
from llm.providers.local import LocalProvider
from llm.providers.offline import OfflineProvider
from llm.providers.openai_compatible import OpenAICompatibleProvider

_offline = OfflineProvider()
_local = LocalProvider()
_openai_compatible = OpenAICompatibleProvider()


def adapter_for(kind: str) -> LlmProvider:
    if kind == ProviderKind.OFFLINE:
        return _offline
    if kind == ProviderKind.LOCAL:
        return _local
    # OpenAI, DeepSeek, Ollama's /v1 and any OpenAI-compatible server speak the same protocol.
    return _openai_compatible
