"""Safe restarts: a busy port stops `serve` before anything is touched, the demo is seeded into an
empty database only, other manage.py processes find the running server, and the embedded
PostgreSQL stops on SIGTERM/SIGHUP even after an earlier holder was killed."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from daarion.agents.models import Agent, MicroDAO
from daarion.common.served import served_url_read, served_url_write
from daarion.server.embedded_db import prune_dead_holders
from llm.models import ModelRoute, Provider
from llm.usage import usage_flush

ROOT = Path(django_settings.BASE_DIR)


@pytest.mark.django_db
def test_serve_on_a_busy_port_fails_before_migrating_or_seeding():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError, match=f"Port {port} .* already in use"):
            call_command("serve", "--demo", "--port", str(port), stdout=io.StringIO())
    assert not MicroDAO.objects.exists()  # the demo was not loaded


@pytest.mark.django_db(transaction=True)
def test_demo_is_seeded_into_an_empty_database_only(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    call_command("bootstrap_demo", stdout=io.StringIO())
    Agent.objects.filter(pk="agent:sofia").update(rate_limit="5/m", system_prompt="Edited.")
    route = ModelRoute.objects.get(name="sofia-default")
    extra = Provider.objects.create(name="extra", kind="offline")
    route.targets.create(provider=extra, physical_model="added-in-admin", priority=9)

    second = io.StringIO()
    call_command("bootstrap_demo", stdout=second)  # what a second `make run` does
    assert "demo not re-applied" in second.getvalue()
    sofia = Agent.objects.get(pk="agent:sofia")
    assert (sofia.rate_limit, sofia.system_prompt) == ("5/m", "Edited.")
    assert route.targets.filter(physical_model="added-in-admin").exists()

    call_command("bootstrap_demo", "--reset", stdout=io.StringIO())
    sofia.refresh_from_db()
    assert sofia.rate_limit == "60/m" and sofia.system_prompt != "Edited."
    usage_flush()  # the seeds embedded through the gateway (rows written in the background)


def test_settings_of_another_process_point_at_the_running_server(tmp_path):
    served_url_write(data_dir=tmp_path, url="http://127.0.0.1:9123")
    assert served_url_read(data_dir=tmp_path) == "http://127.0.0.1:9123"
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",  # settings only; never connects
        "DJANGO_SETTINGS_MODULE": "daarion.settings",
    }
    for name in ("PROJECTS_SERVICE_URL", "TOOLCORE_ALLOWED_HOSTS", "DEBUG"):
        env.pop(name, None)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.PROJECTS_SERVICE_URL); print(s.TOOLCORE_ALLOWED_HOSTS)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["http://127.0.0.1:9123/demo/projects-service", "['127.0.0.1:9123']"]


def test_pruning_drops_holders_that_no_longer_exist(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".handle_pids.json").write_text(json.dumps([dead.pid, os.getpid()]))
    assert prune_dead_holders(tmp_path) == [dead.pid]
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


# --- the embedded PostgreSQL across processes (real subprocesses, real signals) ---------------
HOLD = (
    # SIGHUP as in a terminal's process: a test run under `nohup` hands it down ignored, and
    # exit_cleanly_on_signals rightly leaves an ignored signal alone.
    "import signal; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
    "import django, sys, time; django.setup(); from django.db import connection; "
    "connection.ensure_connection(); print('ready', flush=True); time.sleep(120)"
)


def _holder(data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "daarion.settings"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _postmaster_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_stopped(data_dir: Path, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _postmaster_running(data_dir):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_stops_the_embedded_database_even_after_a_killed_holder(tmp_path, signum):
    killed = _holder(tmp_path)
    killed.kill()  # SIGKILL: no chance to release its handle
    killed.wait()
    assert _postmaster_running(tmp_path)  # left running, its PID still listed

    holder = _holder(tmp_path)  # the next start prunes the dead PID
    pids = json.loads((tmp_path / "pg" / ".handle_pids.json").read_text())
    assert pids == [holder.pid]
    holder.send_signal(signum)  # a closed terminal / `kill`
    holder.wait(timeout=30)
    assert _wait_stopped(tmp_path)
