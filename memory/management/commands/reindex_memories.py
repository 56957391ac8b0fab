from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from daarion.common.errors import ApiError
from memory.reindex import embeddings_prune, memories_reindex


class Command(BaseCommand):
    help = (
        "Re-embed memories (all, or one agent's / microDAO's), finish pending embeddings, or "
        "switch to a new embedding model. Resumable: rerun with the same options after a crash. "
        "Queries keep using the old vectors until a microDAO's new ones are complete."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agent", default=None, help="Only this agent's memories.")
        parser.add_argument("--microdao", default=None, help="Only this microDAO's memories.")
        parser.add_argument(
            "--pending", action="store_true", help="Only memories whose embedding is pending."
        )
        parser.add_argument(
            "--model", default=None, help="Switch to this embedding route (global or --microdao)."
        )
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Afterwards, delete vectors of models no microDAO serves or is switching to.",
        )
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--background",
            action="store_true",
            help="Enqueue it for a worker (progress: admin → Reindex jobs).",
        )

    def handle(self, *args, **options) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["background"]:
            from memory.tasks import memories_reindex_job

            result = memories_reindex_job.enqueue(
                microdao_id=options["microdao"],
                agent_id=options["agent"],
                pending_only=options["pending"],
                model=options["model"],
                batch_size=options["batch_size"],
            )
            self.stdout.write(f"Enqueued reindex as task {result.id}.")
            return
        bar = tqdm(
            unit="memory", disable=options["no_progress"], file=self.stderr, dynamic_ncols=True
        )
        try:
            report = async_to_sync(memories_reindex)(
                microdao_id=options["microdao"],
                agent_id=options["agent"],
                pending_only=options["pending"],
                model=options["model"],
                batch_size=options["batch_size"],
                on_total=lambda total: bar.reset(total=total),
                on_batch=bar.update,
            )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        finally:
            bar.close()
        verb = "Resumed" if report.resumed else "Ran"
        self.stdout.write(
            f"{verb} reindex job #{report.job_id}: {report.total} memories to do, "
            f"{report.embedded} embedded, {report.failed} failed (still pending or unchanged)."
        )
        self.stdout.write(
            f"Fact vectors: {report.facts_embedded} embedded, {report.facts_failed} failed."
        )
        for microdao_id, model in sorted(report.switched.items()):
            self.stdout.write(f"{microdao_id}: queries now use {model}.")
        for microdao_id, (model, missing) in sorted(report.waiting.items()):
            self.stdout.write(
                f"{microdao_id}: {missing} memories still lack a {model} vector; queries keep "
                "the current model (run again to finish)."
            )
        for microdao_id, missing in sorted(report.facts_waiting.items()):
            self.stdout.write(
                f"{microdao_id}: {missing} facts still lack a vector of the new model; queries "
                "keep the current model (run again to finish)."
            )
        if report.all_failed:
            # Every vector failed: rerunning will not help (a route whose dimensions do not
            # match its model, a missing key…). Say why and exit non-zero.
            reasons = "; ".join(f"{model}: {error}" for model, error in report.errors.items())
            raise CommandError(f"Every embedding failed, nothing was indexed. {reasons}")
        if options["prune"]:
            self.stdout.write(f"Pruned {embeddings_prune()} vectors of unused models.")
