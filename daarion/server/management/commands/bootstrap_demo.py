import os

from django.core.management.base import BaseCommand

from daarion.server.demo import bootstrap_demo


class Command(BaseCommand):
    help = "Create or update the demo data (microDAO, agent Sofia, admin user, app demo seeds)."

    def handle(self, *args, **options) -> None:
        bootstrap_demo(
            stdout=self.stdout,  # type: ignore[arg-type]
            admin_username=os.environ.get("ADMIN_USERNAME", "admin"),
            admin_password=os.environ.get("ADMIN_PASSWORD") or None,
        )
