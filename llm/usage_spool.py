"""The usage writer's disk spool: rows that cannot reach the database survive a restart.

When the database does not answer, the writer appends its pending rows to a JSON-lines file
under LLM_USAGE_SPOOL_DIR (default DATA_DIR/usage-spool), fsyncs once per batch and counts them
as durable. When the database answers again, every spool file no live process is writing is
replayed in order (oldest file first, lines in order) and then deleted. Rows carry their
`row_id` and the insert skips ids already present, so a replay interrupted half-way (or a file
replayed twice) still writes each row once.

The segments, fsync, flocks and ordered replay are the kernel's generic spool
(daarion/common/durable_spool.py); this module adds the rows' encoding and folder.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings

from daarion.common.durable_spool import DurableSpool

# llm.usage.UsageRow (passed in by the writer, which imports this module: no cycle).
UsageRow = Any


def spool_dir() -> Path:
    configured = getattr(settings, "LLM_USAGE_SPOOL_DIR", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "usage-spool"


def _encode(row: UsageRow) -> bytes:
    values = asdict(row)
    values["created_at"] = row.created_at.isoformat()
    values["cost_usd"] = str(row.cost_usd)
    values["row_id"] = str(row.row_id)
    # OPT_PASSTHROUGH_DATACLASS unneeded: values are plain; a bad string (lone surrogate) is
    # escaped by the json fallback below so the row is still kept.
    try:
        return orjson.dumps(values) + b"\n"
    except TypeError:
        import json

        return json.dumps(values, ensure_ascii=True, default=str).encode() + b"\n"


def _decode(line: bytes, row_type: type[UsageRow]) -> UsageRow:
    values = orjson.loads(line)
    values["created_at"] = dt.datetime.fromisoformat(values["created_at"])
    values["cost_usd"] = Decimal(values["cost_usd"])
    values["row_id"] = uuid.UUID(values["row_id"])
    return row_type(**values)


class UsageSpool(DurableSpool[UsageRow]):
    """The usage rows' spool (daarion.common.durable_spool), used by the writer thread."""

    def __init__(self) -> None:
        super().__init__(spool_dir, encode=_encode, label="usage spool")

    # Takes the row type (not a decoder): llm.usage imports this module, not the reverse.
    def replay(  # type: ignore[override]
        self, insert: Callable[[list[UsageRow]], None], row_type: type[UsageRow]
    ) -> int:
        """Insert every replayable spooled row in order, deleting each file once it is in.

        Raises what `insert` raises (the database went away again): files not yet done stay.
        """
        return super().replay(insert, functools.partial(_decode, row_type=row_type))


usage_spool = UsageSpool()
