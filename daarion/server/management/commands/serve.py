import contextlib
import errno
import signal
import socket

import uvicorn
import uvicorn.server
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from daarion.common.served import served_url_write
from daarion.common.worker_process import background_worker
from daarion.server.graceful_exit import exit_cleanly_on_signals


def bind_port(host: str, port: int) -> socket.socket:
    """Take the port first, so a busy port fails before migrations or demo data are touched."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"Port {port} on {host} is already in use (another `make run`?). Stop it, or "
                f"pick another port: PORT={port + 1} make run. Nothing was changed."
            ) from exc
        raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
    return sock


class Command(BaseCommand):
    help = "Migrate, optionally load the demo data, and serve the ASGI app with uvicorn."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--demo", action="store_true", help="Run bootstrap_demo first (empty database only)."
        )
        parser.add_argument("--no-migrate", action="store_true")
        parser.add_argument(
            "--no-worker", action="store_true", help="Do not start a background-job worker."
        )

    def handle(self, *args, host: str, port: int, demo: bool, no_migrate: bool, **options) -> None:
        sock = bind_port(host, port)
        if not no_migrate:
            self.stdout.write("Migrating the database…")
            self.stdout.flush()
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database migrated.")
        if demo:
            call_command("bootstrap_demo", stdout=self.stdout)
        url = f"http://{host}:{port}"
        served_url_write(data_dir=settings.DATA_DIR, url=url)
        with contextlib.ExitStack() as stack:
            if not options["no_worker"]:  # after migrate: the worker polls the jobs table
                stack.enter_context(background_worker())
                self.stdout.write("Started one background-job worker (manage.py db_worker).")
            self._serve(host=host, port=port, sock=sock, url=url)

    def _serve(self, *, host: str, port: int, sock: socket.socket, url: str) -> None:
        self.stdout.write(f"Serving on {url}/ (admin at /admin/). Ctrl-C stops.")
        self.stdout.flush()
        # A closed terminal (SIGHUP) shuts down like Ctrl-C, so the embedded database stops too.
        handled: tuple[signal.Signals, ...] = uvicorn.server.HANDLED_SIGNALS
        if signal.SIGHUP not in handled:
            uvicorn.server.HANDLED_SIGNALS = (*handled, signal.SIGHUP)  # type: ignore[assignment]
        # In-process, one worker: this process holds the embedded database, so when uvicorn
        # returns the database stops with it.
        config = uvicorn.Config(
            "daarion.server.asgi:application",
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            log_level="info",
            access_log=False,
        )
        # Before uvicorn takes the signals (it imports the app after): its re-raised SIGTERM then
        # exits through atexit, which writes or spools queued usage rows.
        exit_cleanly_on_signals()
        uvicorn.Server(config).run(sockets=[sock])
