"""The shared lazily started daemon thread (usage writer, facts dispatch, audit replayer)."""

from __future__ import annotations

import threading

from daarion.common.daemon_thread import DaemonThread


def test_started_once_and_again_after_it_died():
    runs: list[str] = []
    release = threading.Event()
    entered = threading.Semaphore(0)

    def body() -> None:
        runs.append(threading.current_thread().name)
        entered.release()
        release.wait(5)

    thread = DaemonThread(body, "test-daemon")
    assert not thread.alive
    thread.ensure_started()
    thread.ensure_started()  # already running: no second thread
    assert thread.alive and entered.acquire(timeout=5)
    release.set()
    thread._thread.join(5)  # type: ignore[union-attr]  # test reaches in to wait for the end
    assert not thread.alive
    release.clear()
    thread.ensure_started()  # died: started again
    assert thread.alive and entered.acquire(timeout=5)
    assert runs == ["test-daemon", "test-daemon"]
    release.set()
