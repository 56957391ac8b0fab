"""The Responses API's streaming event sequence, built from the gateway's chat chunks.

    response.created → response.in_progress →
      per output item: response.output_item.added →
        text:  response.content_part.added → response.output_text.delta… →
               response.output_text.done → response.content_part.done
        call:  response.function_call_arguments.delta… → response.function_call_arguments.done
      → response.output_item.done
    → response.completed (or response.incomplete; response.failed on an upstream error)

Chat streams are sequential (text, then tool calls), so an item is closed when the next opens.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

from llm.errors import ProviderError
from llm.openai.chat import stream_error
from llm.openai.responses import finished, function_call_item, message_item
from llm.openai.wire import sse
from llm.types import ChatChunk


class _Events:
    def __init__(self, skeleton: dict) -> None:
        self.skeleton = skeleton
        self.suffix = skeleton["id"].removeprefix("resp_")
        self.sequence = itertools.count()
        self.items: list[dict] = []  # every output item, in output_index order
        self.open: dict | None = None  # the item receiving deltas
        self.calls: dict[int, dict] = {}  # chat tool-call index → its function_call item

    def event(self, kind: str, **fields) -> bytes:
        return sse({"type": kind, "sequence_number": next(self.sequence), **fields}, event=kind)

    def _add(self, item: dict) -> list[bytes]:
        events = self.close()
        self.items.append(item)
        self.open = item
        added = {**item, "content": []} if item["type"] == "message" else dict(item)
        events.append(
            self.event("response.output_item.added", output_index=len(self.items) - 1, item=added)
        )
        return events

    def text(self, delta: str) -> list[bytes]:
        events: list[bytes] = []
        item = self.open
        if item is None or item["type"] != "message":
            item = message_item(f"msg_{self.suffix}_{len(self.items)}", "", status="in_progress")
            events += self._add(item)
            events.append(
                self.event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=len(self.items) - 1,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                )
            )
        item["content"][0]["text"] += delta
        events.append(
            self.event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=self.items.index(item),
                content_index=0,
                delta=delta,
                logprobs=[],
            )
        )
        return events

    def tool_call(self, delta: dict) -> list[bytes]:
        events: list[bytes] = []
        index = delta.get("index", 0)
        function = delta.get("function") or {}
        item = self.calls.get(index)
        if item is None:
            call = {"id": delta.get("id"), "function": {"name": function.get("name") or ""}}
            item = function_call_item(
                f"fc_{self.suffix}_{len(self.items)}", call, status="in_progress"
            )
            self.calls[index] = item
            events += self._add(item)
        elif function.get("name") and not item["name"]:
            item["name"] = function["name"]
        if function.get("arguments"):
            item["arguments"] += function["arguments"]
            events.append(
                self.event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self.items.index(item),
                    delta=function["arguments"],
                )
            )
        return events

    def close(self) -> list[bytes]:
        item, self.open = self.open, None
        if item is None:
            return []
        index = self.items.index(item)
        item["status"] = "completed"
        events = []
        if item["type"] == "message":
            part = item["content"][0]
            events.append(
                self.event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=part["text"],
                    logprobs=[],
                )
            )
            events.append(
                self.event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            )
        else:
            events.append(
                self.event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        events.append(self.event("response.output_item.done", output_index=index, item=item))
        return events


async def response_events(stream: AsyncIterator[ChatChunk], *, skeleton: dict):
    events = _Events(skeleton)
    try:
        yield events.event("response.created", response=skeleton)
        yield events.event("response.in_progress", response=skeleton)
        async for chunk in stream:
            if chunk.final is not None:
                for data in events.close():
                    yield data
                response = finished(skeleton, chunk.final, events.items)
                kind = f"response.{response['status']}"  # completed or incomplete
                yield events.event(kind, response=response)
                continue
            if chunk.index != 0:
                continue  # the Responses API has no `n`
            delta = chunk.delta or {}
            if delta.get("content"):
                for data in events.text(delta["content"]):
                    yield data
            for call in delta.get("tool_calls") or ():
                for data in events.tool_call(call):
                    yield data
    except ProviderError as exc:
        failed = {
            **skeleton,
            "status": "failed",
            "output": events.items,
            "error": {"code": stream_error(exc)["code"], "message": exc.message},
        }
        yield events.event("response.failed", response=failed)
    finally:
        await stream.aclose()
