from pathlib import Path

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from daarion.common.errors import ApiError
from memory.knowledge import kb_files, kb_ingest_folder


class Command(BaseCommand):
    help = (
        "Ingest a folder of Markdown/text files as long-term knowledge of a microDAO. Idempotent "
        "by checksum; documents whose file was deleted are removed with their chunks."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="Folder with .md / .markdown / .txt files.")
        parser.add_argument("--microdao", required=True, help="The microDAO that owns it.")
        parser.add_argument(
            "--agent", default=None, help="Only this agent may recall it (default: all agents)."
        )
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--background", action="store_true", help="Enqueue it for a worker instead."
        )

    def handle(self, *args, path: str, microdao: str, agent: str | None, **options) -> None:
        root = Path(path)
        if not root.is_dir():
            raise CommandError(f"{path} is not a folder.")
        if options["background"]:
            from memory.tasks import kb_ingest_job

            result = kb_ingest_job.enqueue(
                root=str(root.resolve()), microdao_id=microdao, agent_id=agent
            )
            self.stdout.write(f"Enqueued ingestion as task {result.id}.")
            return
        bar = tqdm(
            total=sum(1 for _ in kb_files(root)),
            unit="file",
            disable=options["no_progress"],
            file=self.stderr,
            dynamic_ncols=True,
        )
        try:
            report = async_to_sync(kb_ingest_folder)(
                root=root,
                microdao_id=microdao,
                agent_id=agent,
                on_file=lambda _path, _result: bar.update(1),
            )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        finally:
            bar.close()
        self.stdout.write(
            f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.removed} removed; {report.chunks} chunks in the ingested documents, "
            f"{report.pending_embedding} waiting for an embedding."
        )
        if report.pending_embedding:
            self.stdout.write("Run `manage.py reindex_memories --pending` once the route is up.")
