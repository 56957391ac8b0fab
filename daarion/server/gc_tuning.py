"""Garbage-collector settings for a serving process (applied by daarion.server.asgi).

Measured on the gateway with 256 requests in flight (docs/benchmarks.md): with Python's
default thresholds (700, 10, 10) the cyclic collector ran ~770 young, ~70 middle and ~6 full
collections per 2,560 requests, and each full collection walked every object Django, the models
and the libraries made at start-up (~200k): GC was the largest single cost of the slow-upstream
case. Two standard remedies:

- `gc.freeze()` once start-up is done: what exists then (modules, URL patterns, settings, the
  registry) moves to a permanent generation that collections no longer walk.
- a higher young-generation threshold, so requests in flight are not promoted (and later walked
  again by middle and full collections) just because many are running at once.

Reference cycles are still collected; only less often. SERVER_GC_THRESHOLD=0 keeps Python's
defaults and does not freeze.
"""

from __future__ import annotations

import gc

# Middle and full collections relative to young ones (Python's defaults are 10 and 10).
_OLDER_THRESHOLDS = (20, 50)


def gc_tune_for_serving(threshold: int) -> bool:
    """Freeze what start-up made and raise the young threshold; False when `threshold` <= 0."""
    if threshold <= 0:
        return False
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(threshold, *_OLDER_THRESHOLDS)
    return True
