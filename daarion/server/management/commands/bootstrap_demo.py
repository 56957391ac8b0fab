import os

from django.core.management.base import BaseCommand

from daarion.server.demo import bootstrap_demo


class Command(BaseCommand):
    help = (
        "Load the demo data (microDAO, agent Sofia, admin user, app demo seeds) into an empty "
        "database; --reset re-applies demo/registry.yaml and the seeds over existing data."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Re-apply the demo registry and seeds even if data exists (reverts admin edits).",
        )

    def handle(self, *args, reset: bool, **options) -> None:
        bootstrap_demo(
            stdout=self.stdout,  # type: ignore[arg-type]
            admin_username=os.environ.get("ADMIN_USERNAME", "admin"),
            admin_password=os.environ.get("ADMIN_PASSWORD") or None,
            reset=reset,
        )
