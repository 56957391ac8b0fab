"""The kernel's durable disk spool (daarion/common/durable_spool.py), without a database."""

from __future__ import annotations

import fcntl
import json
import time

import pytest

from daarion.common.durable_spool import DurableSpool


def _spool(path) -> DurableSpool[dict]:
    return DurableSpool(
        lambda: path,
        encode=lambda item: json.dumps(item).encode() + b"\n",
        decode=json.loads,
        label="test spool",
        chunk=2,
    )


def test_items_are_replayed_in_order_and_the_segments_deleted(tmp_path):
    spool = _spool(tmp_path)
    assert not spool.has_work()
    assert spool.append([{"n": 1}, {"n": 2}]) == 2
    assert spool.append([{"n": 3}]) == 1
    assert spool.spooling and spool.has_work()
    applied: list[list[int]] = []
    assert spool.replay(lambda items: applied.append([i["n"] for i in items])) == 3
    assert applied == [[1, 2], [3]]  # in order, in chunks
    assert not list(tmp_path.glob("*.jsonl")) and not spool.spooling


def test_segments_left_by_earlier_processes_are_replayed_first(tmp_path):
    (tmp_path / f"{1:020d}-1-earlier.jsonl").write_bytes(b'{"n": 0}\n{"n": 0.5')  # cut line
    spool = _spool(tmp_path)
    assert spool.has_work()  # though this process spooled nothing
    spool.append([{"n": 1}])
    seen: list[float] = []
    spool.replay(lambda items: seen.extend(i["n"] for i in items))
    assert seen == [0, 1]  # the cut line is skipped, the rest kept
    assert not list(tmp_path.glob("*.jsonl"))


def test_a_failed_apply_keeps_the_segment_and_a_second_replay_finishes_it(tmp_path):
    spool = _spool(tmp_path)
    spool.append([{"n": 1}, {"n": 2}, {"n": 3}])
    applied: list[int] = []

    def down_after_first_chunk(items):
        if applied:
            raise ConnectionError("database went away again")
        applied.extend(i["n"] for i in items)

    with pytest.raises(ConnectionError):
        spool.replay(down_after_first_chunk)
    assert len(list(tmp_path.glob("*.jsonl"))) == 1  # kept
    spool.replay(lambda items: applied.extend(i["n"] for i in items))
    assert applied == [1, 2, 1, 2, 3]  # replayed again from the start: apply is idempotent
    assert not list(tmp_path.glob("*.jsonl"))


def test_a_segment_another_live_process_holds_is_left_alone(tmp_path):
    held = tmp_path / f"{time.time_ns():020d}-99-live.jsonl"
    held.write_bytes(b'{"n": 9}\n')
    with open(held, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as its writer does
        seen: list[int] = []
        assert _spool(tmp_path).replay(lambda items: seen.extend(i["n"] for i in items)) == 0
        assert seen == [] and held.exists()
