"""/v1/embeddings inputs: strings or token arrays, and `dimensions`.

OpenAI accepts `input` as a string, strings, one token array or token arrays; LangChain's
`OpenAIEmbeddings()` sends token arrays by default (it splits long texts with tiktoken).
Token arrays go as they are to routes whose every provider speaks OpenAI's wire protocol;
for a route with a text-only provider (offline, Ollama, DeepSeek) they are decoded with the
tiktoken encoding the client used, when tiktoken is installed and its BPE file is on disk
(settings.LLM_TIKTOKEN_DIR, else $TIKTOKEN_CACHE_DIR; litellm ships cl100k_base), and otherwise
refused with a 400 that names the client option.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import os
import struct
from pathlib import Path

from django.conf import settings

from daarion.common.errors import BadRequest
from llm.models import ProviderKind
from llm.registry import registry_aget

logger = logging.getLogger(__name__)

# Kinds whose /embeddings take token arrays as OpenAI's does (vLLM, LiteLLM, OpenAI itself).
TOKEN_INPUT_KINDS = frozenset({ProviderKind.OPENAI, ProviderKind.OPENAI_COMPATIBLE})
_FALLBACK_ENCODING = "cl100k_base"  # what LangChain and tiktoken use for unknown model names
_BPE_BASE_URL = "https://openaipublic.blob.core.windows.net/encodings"  # tiktoken's cache key


class EmbeddingInputError(BadRequest):
    """A /v1 embeddings input the gateway cannot serve (OpenAI's param/code carried along)."""

    def __init__(self, message: str, *, param: str = "input", code: str = "invalid_value"):
        super().__init__(message)
        self.param = param
        self.error_type = code


def normalise_input(value) -> list[str] | list[list[int]]:
    """OpenAI's four `input` forms as a list of strings or a list of token arrays."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise EmbeddingInputError("'input' must be a non-empty string, list or token array.")
    if all(isinstance(item, str) for item in value):
        return value
    if all(type(item) is int for item in value):
        return [value]
    if all(isinstance(item, list) and item and all(type(t) is int for t in item) for item in value):
        return value
    raise EmbeddingInputError(
        "'input' must be a string, a list of strings, a token array or a list of token arrays."
    )


def _tokenizer_dir() -> str:
    return getattr(settings, "LLM_TIKTOKEN_DIR", "") or os.environ.get("TIKTOKEN_CACHE_DIR", "")


@functools.lru_cache(maxsize=8)
def _encoding(model: str, directory: str):
    """The tiktoken encoding the client used for `model`, if its BPE file is in `directory`.

    Never downloads: tiktoken would fetch the file from the internet on first use, which a
    request must not do. The file name is tiktoken's cache key (the SHA-1 of its URL).
    """
    if not directory:
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = _FALLBACK_ENCODING
    url = f"{_BPE_BASE_URL}/{name}.tiktoken"
    if not (Path(directory) / hashlib.sha1(url.encode()).hexdigest()).is_file():  # noqa: S324
        return None
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = directory  # where tiktoken reads its cache
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # a corrupt file: treat as unavailable
        logger.warning("tiktoken encoding %s unusable: %s", name, type(exc).__name__)
        return None
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def tokens_decode(model: str, arrays: list[list[int]]) -> list[str]:
    encoding = _encoding(model, _tokenizer_dir())
    if encoding is None:
        raise EmbeddingInputError(
            f"Model '{model}' takes text, and this gateway has no tokenizer to turn token "
            "arrays back into text. Send strings instead: with LangChain use "
            "OpenAIEmbeddings(check_embedding_ctx_length=False).",
            code="token_input_unsupported",
        )
    try:
        return [encoding.decode(array) for array in arrays]
    except Exception:  # a token id outside the vocabulary
        raise EmbeddingInputError(
            f"'input' holds token ids that are not in {encoding.name}.", code="invalid_value"
        ) from None


async def embedding_texts(*, model: str, inputs: list[str] | list[list[int]]):
    """What the gateway should embed: strings, or token arrays when every provider takes them."""
    if not inputs or isinstance(inputs[0], str):
        return inputs
    route = (await registry_aget()).routes.get(model)
    if route is None or all(t.provider.kind in TOKEN_INPUT_KINDS for t in route.targets):
        return inputs  # unknown model / no target: the gateway answers that
    return await asyncio.to_thread(tokens_decode, model, inputs)


def check_dimensions(dimensions) -> int | None:
    if dimensions is None:
        return None
    if type(dimensions) is not int or dimensions < 1:
        raise EmbeddingInputError("'dimensions' must be a positive integer.", param="dimensions")
    return dimensions


def encode_vector(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # what the openai SDK asks for by default: little-endian float32
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
