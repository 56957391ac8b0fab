import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from daarion.server.registry_io import (
    RegistryError,
    registry_dump_yaml,
    registry_export,
    registry_import,
    registry_load_yaml,
)


class Command(BaseCommand):
    help = (
        "Export the registry (microDAOs, agents, providers without secrets, routes, tools, "
        "grants) to YAML, or import it (validated before anything is written; idempotent)."
    )

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Write the registry to FILE ('-' for stdout).")
        export.add_argument("file")
        load = sub.add_parser("import", help="Load FILE into the registry.")
        load.add_argument("file")
        load.add_argument("--dry-run", action="store_true", help="Validate only; write nothing.")

    def handle(self, *args, action: str, file: str, **options) -> None:
        if action == "export":
            text = registry_dump_yaml(registry_export())
            if file == "-":
                self.stdout.write(text, ending="")
            else:
                Path(file).write_text(text, encoding="utf-8")
                self.stdout.write(f"Registry written to {file}.")
            return
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        try:
            summary = registry_import(registry_load_yaml(text), dry_run=options["dry_run"])
        except RegistryError as exc:
            lines = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(f"Nothing was imported; {file} has problems:\n{lines}") from exc
        counts = ", ".join(f"{count} {name}" for name, count in summary.counts.items())
        verb = "Valid (dry run, nothing written)" if options["dry_run"] else "Imported"
        self.stdout.write(f"{verb}: {counts}.")
        if summary.skipped_providers:
            self.stdout.write(
                "Skipped providers whose environment variable is unset: "
                + ", ".join(summary.skipped_providers)
            )
