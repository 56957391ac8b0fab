"""Chat with an agent in the terminal; tool calls and memory hits are shown as they happen."""

from __future__ import annotations

import asyncio
import uuid

from django.core.management.base import BaseCommand, CommandError

from daarion.common.errors import ApiError
from daarion.runtime.turn import agent_respond
from daarion.runtime.types import TurnEvent


class Command(BaseCommand):
    help = (
        "Interactive terminal chat with an agent (one full turn per message). Ctrl-D or /quit ends."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("agent_id")
        parser.add_argument(
            "--channel", default=None, help="Channel id (default: a new terminal channel)."
        )
        parser.add_argument(
            "--message", "-m", action="append", help="Send these messages and exit."
        )

    def handle(
        self, *args, agent_id: str, channel: str | None, message: list[str] | None, **options
    ) -> None:
        channel = channel or f"terminal:{uuid.uuid4().hex[:8]}"
        self.stdout.write(
            self.style.MIGRATE_HEADING(f"Chatting with {agent_id} in channel {channel}")
        )
        if message:
            for text in message:
                self._turn(agent_id, channel, text)
            return
        self.stdout.write("Type a message; /quit or Ctrl-D ends.")
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("")
                return
            if text in {"/quit", "/exit"}:
                return
            if text:
                self._turn(agent_id, channel, text)

    def _turn(self, agent_id: str, channel: str, text: str) -> None:
        try:
            result = asyncio.run(
                agent_respond(
                    agent_id=agent_id, message=text, channel_id=channel, observer=self._show
                )
            )
        except ApiError as exc:
            if exc.status_code == 404:
                raise CommandError(exc.message) from exc
            self.stdout.write(self.style.ERROR(f"  ! {exc.error_type}: {exc.message}"))
            return
        usage = result.usage
        providers = ", ".join(usage.providers) or "-"
        total_ms = result.timing_ms["total"]
        self.stdout.write(
            self.style.HTTP_INFO(
                f"  · {usage.llm_calls} LLM call(s) via {providers}, {usage.total_tokens} tokens, "
                f"${usage.cost_usd:.6f}, {total_ms:.0f} ms"
            )
        )

    def _show(self, event: TurnEvent) -> None:
        data = event.data
        if event.kind == "memories":
            for item in data["items"]:
                text = " ".join(item["text"].split())[:110]  # one line per memory
                self.stdout.write(self.style.HTTP_NOT_MODIFIED(f"  [memory:{item['tier']}] {text}"))
        elif event.kind == "tool_call":
            self.stdout.write(self.style.WARNING(f"  → tool {data['name']}({data['arguments']})"))
        elif event.kind == "tool_result":
            outcome = "ok" if data["ok"] else f"error {data['error']}"
            self.stdout.write(
                self.style.WARNING(
                    f"  ← {data['tool_id']}: {outcome} ({data['latency_ms']:.0f} ms)"
                )
            )
        elif event.kind == "degraded":
            self.stdout.write(
                self.style.ERROR(f"  ! {data['step']} unavailable, continuing without it")
            )
        elif event.kind == "reply":
            self.stdout.write(self.style.SUCCESS(f"agent> {data['text']}"))
