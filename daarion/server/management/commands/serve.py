import uvicorn
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, optionally load the demo data, and serve the ASGI app with uvicorn."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--demo", action="store_true", help="Run bootstrap_demo first.")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, host: str, port: int, demo: bool, no_migrate: bool, **options) -> None:
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database migrated.")
        if demo:
            call_command("bootstrap_demo", stdout=self.stdout)
        self.stdout.write(f"Serving on http://{host}:{port}/ (admin at /admin/). Ctrl-C stops.")
        self.stdout.flush()
        # In-process, one worker: this process holds the embedded database, so when uvicorn
        # returns (Ctrl-C) the database stops with it.
        uvicorn.run(
            "daarion.server.asgi:application",
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            log_level="info",
            access_log=False,
        )
