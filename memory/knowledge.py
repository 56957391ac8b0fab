"""Long-term knowledge: documents chunked into tier-`long` memories, embedded like the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from psycopg.errors import DeadlockDetected

from daarion.agents.access import agent_access_check
from daarion.agents.models import MicroDAO
from daarion.common.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Unprocessable
from daarion.common.input_rules import text_problem
from memory.chunking import TextChunk, chunk_text
from memory.models import Document, Kind, Memory, Tier
from memory.services import MemoryRef, memories_embed
from memory.types import DocumentIngestResult

KB_SUFFIXES = (".md", ".markdown", ".txt")


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_owner(microdao_id: str, agent_id: str | None) -> None:
    if agent_id is not None:
        agent_access_check(agent_id=agent_id, microdao_id=microdao_id)
    elif not MicroDAO.objects.filter(pk=microdao_id).exists():
        raise NotFound(f"Unknown microDAO {microdao_id!r}.")


def _document_write(
    *, microdao_id: str, agent_id: str | None, title: str, source: str, text: str
) -> tuple[Document, list[MemoryRef], bool]:
    """Create or replace the document and its chunks (one transaction); unchanged → no-op."""
    _check_owner(microdao_id, agent_id)
    checksum = _checksum(text)
    chunks = chunk_text(
        text, size=settings.MEMORY_CHUNK_CHARS, overlap=settings.MEMORY_CHUNK_OVERLAP
    )
    try:
        with transaction.atomic():
            # Concurrent uploads of one document queue here instead of racing update_or_create
            # into the unique constraint (a 500 each); the later ones then see the new checksum.
            _document_lock(microdao_id=microdao_id, source=source)
            existing = Document.objects.filter(microdao_id=microdao_id, source=source).first()
            if existing and existing.checksum == checksum and existing.agent_id == agent_id:
                pending = Memory.objects.filter(document=existing, embedding_pending=True)
                return existing, [MemoryRef.of(chunk) for chunk in pending], False
            return _document_replace(
                microdao_id=microdao_id,
                agent_id=agent_id,
                title=title,
                source=source,
                checksum=checksum,
                text=text,
                chunks=chunks,
            )
    except (IntegrityError, OperationalError) as exc:
        if not _is_concurrent_change(exc):
            raise
        raise Conflict("The document changed concurrently; retry.") from exc


def _is_concurrent_change(exc: Exception) -> bool:
    """A lost race with another writer of the same rows (not a database outage)."""
    return isinstance(exc, IntegrityError) or isinstance(exc.__cause__, DeadlockDetected)


def _document_lock(*, microdao_id: str, source: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"memory.document:{microdao_id}:{source}"],
        )


def _document_replace(
    *,
    microdao_id: str,
    agent_id: str | None,
    title: str,
    source: str,
    checksum: str,
    text: str,
    chunks: list[TextChunk],
) -> tuple[Document, list[MemoryRef], bool]:
    document, _ = Document.objects.update_or_create(
        microdao_id=microdao_id,
        source=source,
        defaults={
            "agent_id": agent_id,
            "title": title[:300],
            "checksum": checksum,
            "size_chars": len(text),
        },
    )
    Memory.objects.filter(document=document).delete()
    rows = Memory.objects.bulk_create(
        Memory(
            microdao_id=microdao_id,
            agent_id=agent_id,
            tier=Tier.LONG,
            kind=Kind.KB,
            text=chunk.text,
            document=document,
            chunk_index=chunk.index,
            metadata={
                "document_id": document.pk,
                "title": document.title,
                "source": source,
                "heading": chunk.heading,
                "chunk": chunk.index,
            },
        )
        for chunk in chunks
    )
    return document, [MemoryRef.of(row) for row in rows], True


async def document_ingest(
    *, microdao_id: str, title: str, text: str, source: str, agent_id: str | None = None
) -> DocumentIngestResult:
    """Add or update one knowledge document; idempotent by checksum (same text → no-op)."""
    if not text.strip():
        raise BadRequest("The document is empty.")
    if len(text) > settings.MEMORY_MAX_DOCUMENT_CHARS:
        raise PayloadTooLarge(
            f"The document has {len(text)} characters; at most "
            f"{settings.MEMORY_MAX_DOCUMENT_CHARS} are allowed."
        )
    if not source or len(source) > 1000:
        raise BadRequest("`source` must have 1 to 1000 characters.")
    for name, value in (("text", text), ("title", title), ("source", source)):
        problem = text_problem(value or "")
        if problem:
            raise Unprocessable(f"The document {name} {problem}.", details={"loc": name})
    document, chunks, changed = await sync_to_async(_document_write)(
        microdao_id=microdao_id, agent_id=agent_id, title=title or source, source=source, text=text
    )
    pending = 0
    batch = settings.MEMORY_EMBED_BATCH_SIZE
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        try:
            embedded = await memories_embed(memories=part, agent_id=agent_id)
        except (IntegrityError, OperationalError) as exc:
            # A concurrent upload replaced these chunks while they were being embedded; the
            # newer version stands.
            if not _is_concurrent_change(exc):
                raise
            raise Conflict("The document was replaced by a concurrent upload.") from exc
        pending += len(part) - len(embedded)
    total = await Memory.objects.filter(document=document).acount()
    return DocumentIngestResult(
        document_id=document.pk, chunks=total, changed=changed, pending_embedding=pending
    )


def document_delete(
    *, document_id: int, microdao_id: str | None = None, agent_id: str | None = None
) -> None:
    """Delete a document and its chunks; scoped to a microDAO (and agent) when given."""
    queryset = Document.objects.filter(pk=document_id)
    if microdao_id is not None:
        queryset = queryset.filter(microdao_id=microdao_id)
    if agent_id is not None:
        queryset = queryset.filter(agent_id=agent_id)
    deleted, _ = queryset.delete()  # chunks (and their embeddings) cascade
    if not deleted:
        raise NotFound(f"No document {document_id} in this microDAO.")


# --- a folder of Markdown/text files -----------------------------------------------------------


@dataclass(slots=True)
class FolderIngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    pending_embedding: int = 0


def kb_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if path.is_file() and path.suffix.lower() in KB_SUFFIXES and not hidden:
            yield path


def _title_of(path: Path, text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
        if line.strip():
            break
    return path.stem.replace("_", " ").replace("-", " ")


async def kb_ingest_folder(
    *,
    root: Path,
    microdao_id: str,
    agent_id: str | None = None,
    on_file: Callable[[Path, DocumentIngestResult | None], None] | None = None,
) -> FolderIngestReport:
    """Ingest every Markdown/text file under `root`; drop documents whose file is gone."""
    root = root.resolve()  # noqa: ASYNC240  (a command's local folder, read once)
    if not root.is_dir():
        raise BadRequest(f"{root} is not a folder.")
    prefix = f"file:{root}/"
    report = FolderIngestReport()
    seen: set[str] = set()
    existing = set(  # type: ignore[var-annotated]
        await sync_to_async(list)(  # type: ignore[call-arg]
            Document.objects.filter(microdao_id=microdao_id, source__startswith=prefix).values_list(
                "source", flat=True
            )
        )
    )
    for path in kb_files(root):
        source = prefix + path.relative_to(root).as_posix()
        seen.add(source)
        text = path.read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            if on_file:
                on_file(path, None)
            continue
        result = await document_ingest(
            microdao_id=microdao_id,
            agent_id=agent_id,
            title=_title_of(path, text),
            text=text,
            source=source,
        )
        if not result.changed:
            report.unchanged += 1
        elif source in existing:
            report.updated += 1
        else:
            report.added += 1
        report.chunks += result.chunks
        report.pending_embedding += result.pending_embedding
        if on_file:
            on_file(path, result)
    gone = existing - seen
    if gone:
        await Document.objects.filter(microdao_id=microdao_id, source__in=gone).adelete()
        report.removed = len(gone)
    return report
