"""Demo data for `make run`: the embedding model choice, a small knowledge base for the DAARION
microDAO, a few past conversations of Sofia about project X, and Sofia's `memory_search` tool.
Idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from asgiref.sync import async_to_sync
from django.conf import settings

from daarion.agents.models import Agent
from memory.embeddings import embedding_model_dimensions
from memory.knowledge import kb_ingest_folder
from memory.models import MemorySettings
from memory.services import memory_settings_set, memory_store
from toolcore.services import python_tool_install, tool_grant

DEMO_KB = Path(__file__).resolve().parent / "demo_kb"
DEMO_CONVERSATIONS = [
    (
        "demo-1",
        "Софіє, як просувається проєкт X?",
        "Дизайн каталогу для проєкту X завершено, Марта з командою працює над кошиком.",
    ),
    (
        "demo-2",
        "Who should I talk to about project X?",
        "Marta leads project X; write to her in #project-x.",
    ),
    (
        "demo-3",
        "Коли наступна демонстрація проєкту X?",
        "В останній четвер місяця, як домовились на зустрічі громади.",  # noqa: RUF001
    ),
]


def seed_demo(*, stdout: TextIO) -> None:
    model = settings.MEMORY_DEFAULT_EMBEDDING_MODEL
    if not MemorySettings.objects.filter(microdao__isnull=True).exists():
        if embedding_model_dimensions(model) is None:
            stdout.write(f"Memory: no embedding route {model!r}; memories stay full-text only.\n")
        else:
            memory_settings_set(microdao_id=None, embedding_model=model)
    if not Agent.objects.filter(pk="agent:sofia").exists():
        return
    report = async_to_sync(kb_ingest_folder)(root=DEMO_KB, microdao_id="microdao:daarion")
    for key, user_message, agent_reply in DEMO_CONVERSATIONS:
        async_to_sync(memory_store)(
            agent_id="agent:sofia",
            microdao_id="microdao:daarion",
            channel_id="demo",
            user_message=user_message,
            agent_reply=agent_reply,
            metadata={"source": "demo"},
            idempotency_key=key,
        )
    python_tool_install(function_name="memory_search")
    tool_grant(agent_id="agent:sofia", tool_id="memory_search")
    stdout.write(
        f"Memory: embedding model {model!r}; knowledge base {report.added} added, "
        f"{report.unchanged} unchanged ({report.chunks} chunks); "
        f"{len(DEMO_CONVERSATIONS)} demo conversations of Sofia; tool memory_search granted.\n"
    )
