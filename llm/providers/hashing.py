"""The offline provider's feature-hashing embedder (words, stems, trigrams; EN and UK).

Deterministic and dependency-free: the development provider's embeddings and the offline tool
chooser's fallback when no embedding route answers.
"""

from __future__ import annotations

import math
import re
import zlib

DEFAULT_DIMENSIONS = 384
_WORD_RE = re.compile(r"\w+", re.UNICODE)
# A word list reads better as text than as a list literal.
_STOP_WORD_TEXT = (
    "a an and are as at be but by do does for from has have how i in is it its me my of on "
    "or our so than that the their them then there these they this to was we were what when "
    "where which who why will with you your "
    # Ukrainian function words (Cyrillic letters that look Latin are intended here)
    "і й та а але в у на з зі із до по за від про для що як це ти ми ви вони він "  # noqa: RUF001
    "вона воно я мені нас вас їх його її чи не так же ж бо є був була було"  # noqa: RUF001
)
_STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())
_WORD_WEIGHT = 1.0
_STOP_WEIGHT = 0.15
_STEM_WEIGHT = 0.6
_TRIGRAMS_TOTAL_WEIGHT = 0.5
_SIGN_SEED = 0x5BD1E995


def _features(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for word in _WORD_RE.findall(text.lower()):
        stop = word in _STOP_WORDS
        weights["w:" + word] = weights.get("w:" + word, 0.0) + (
            _STOP_WEIGHT if stop else _WORD_WEIGHT
        )
        if stop:
            continue
        if len(word) > 5:
            key = "s:" + word[:5]
            weights[key] = weights.get(key, 0.0) + _STEM_WEIGHT
        padded = f"#{word}#"
        grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        share = _TRIGRAMS_TOTAL_WEIGHT / len(grams)
        for gram in grams:
            key = "g:" + gram
            weights[key] = weights.get(key, 0.0) + share
    return weights


def hash_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for feature, weight in _features(text).items():
        data = feature.encode()
        bucket = zlib.crc32(data) % dimensions
        sign = 1.0 if zlib.crc32(data, _SIGN_SEED) & 1 else -1.0
        # Sub-linear term frequency: a repeated word should not drown the others.
        vector[bucket] += sign * math.sqrt(weight)
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        # Empty or symbol-only text: a fixed unit vector, so callers never get NaNs.
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]
