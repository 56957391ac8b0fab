from django.core.management.base import BaseCommand, CommandError

from llm.models import Provider
from llm.services import provider_test


class Command(BaseCommand):
    help = "Make a tiny real call to each enabled provider and record its health state."

    def add_arguments(self, parser) -> None:
        parser.add_argument("names", nargs="*", help="Provider names (default: all enabled)")

    def handle(self, *args, names: list[str], **options) -> None:
        providers = Provider.objects.filter(enabled=True).prefetch_related("keys")
        if names:
            providers = providers.filter(name__in=names)
        failed = []
        for provider in providers:
            outcome = provider_test(provider=provider)
            mark = "ok  " if outcome.ok else "FAIL"
            self.stdout.write(
                f"{mark} {outcome.provider:<20} {outcome.latency_ms:>8.1f} ms  {outcome.detail}"
            )
            if not outcome.ok:
                failed.append(outcome.provider)
        if failed:
            raise CommandError(f"{len(failed)} provider(s) failing: {', '.join(failed)}")
