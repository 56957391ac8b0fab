from django.core.management.base import BaseCommand

from memory.partitions import (
    DEFAULT_PARTITION,
    default_partition_rows,
    orphan_partitions,
    partition_drop,
    partition_rows,
    partitions_sync,
)


class Command(BaseCommand):
    help = (
        "The per-microDAO partitions of the memory vectors: list them (estimated rows), give "
        "microDAOs without one a partition (moving their rows out of DEFAULT), drop the "
        "partitions of deleted microDAOs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--sync", action="store_true", help="A partition for every microDAO that has none."
        )
        parser.add_argument(
            "--drop-orphans",
            action="store_true",
            help="Drop the (empty) partitions of deleted microDAOs.",
        )

    def handle(self, *args, **options) -> None:
        if options["sync"]:
            for microdao_id in partitions_sync():
                self.stdout.write(f"{microdao_id}: partition created.")
        if options["drop_orphans"]:
            for name in orphan_partitions():
                partition_drop(name)
                self.stdout.write(f"{name}: dropped.")
        for name, bound, rows in partition_rows():
            size = "not analyzed yet" if rows is None else f"~{rows} rows"
            self.stdout.write(f"{name}  {bound}  {size}")
        waiting = default_partition_rows()
        if waiting:
            self.stdout.write(
                self.style.WARNING(
                    f"{waiting} vectors wait in {DEFAULT_PARTITION}: run with --sync to give "
                    "their microDAOs their own partitions."
                )
            )
