from django.core.management.base import BaseCommand, CommandError

from memory.facts.dispatch import facts_pending_sweep
from memory.facts.services import extraction_reset, memories_missing_extraction


class Command(BaseCommand):
    help = (
        "Queue fact extraction: --missing for memories that have no extraction yet (stores a "
        "crash left pending, jobs that were lost, older memories), --memory ID to run one again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--missing", action="store_true")
        parser.add_argument("--memory", type=int, action="append", default=[])
        parser.add_argument("--microdao", default=None)
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args, missing: bool, memory: list[int], microdao, batch_size, **options):
        from memory.tasks import facts_extract

        if not missing and not memory:
            raise CommandError("Give --missing or --memory ID.")
        ids = list(memory)
        if memory:
            extraction_reset(memory_ids=memory)
        swept = 0
        if missing:
            # Pending (a crash between a store and its dispatch): claimed and queued exactly once.
            swept = facts_pending_sweep(microdao_id=microdao)
            ids += memories_missing_extraction(microdao_id=microdao)
        for start in range(0, len(ids), batch_size):
            facts_extract.enqueue(memory_ids=ids[start : start + batch_size])
        self.stdout.write(f"Queued fact extraction for {len(ids) + swept} memories.")
