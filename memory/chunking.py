"""Split Markdown or plain text into overlapping chunks for long-term knowledge.

Blocks (paragraphs, list runs, fenced code) are packed greedily up to `size` characters; a block
that is itself too long is cut at sentence ends, then at spaces. Each chunk after the first
starts with the last ~`overlap` characters of the previous one (cut at a word boundary), so a
sentence that straddles two chunks is found from either. Markdown headings start a new chunk and
are remembered: every chunk carries the heading path it falls under.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


@dataclass(frozen=True, slots=True)
class TextChunk:
    index: int
    text: str
    heading: str  # "Title > Section" path, empty outside any heading


def _blocks(text: str) -> list[tuple[str, str]]:
    """(heading path, block text) pairs in document order."""
    blocks: list[tuple[str, str]] = []
    headings: list[str] = []
    current: list[str] = []
    in_fence = False

    def flush() -> None:
        if current and "".join(current).strip():
            blocks.append((" > ".join(headings), "\n".join(current).strip()))
        current.clear()

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            current.append(line)
            continue
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            del headings[level - 1 :]
            headings.extend([""] * (level - 1 - len(headings)))
            headings.append(heading.group(2))
            headings[:] = [h for h in headings if h]
            blocks.append((" > ".join(headings), "\x00" + line.strip()))  # heading marker
            continue
        if not line.strip() and not in_fence:
            flush()
            continue
        current.append(line)
    flush()
    return blocks


def _split_long(block: str, size: int) -> list[str]:
    if len(block) <= size:
        return [block]
    pieces: list[str] = []
    buffer = ""
    for sentence in _SENTENCE_END.split(block):
        while len(sentence) > size:  # one huge "sentence": cut at the last space before `size`
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            pieces.append((buffer + " " + sentence[:cut]).strip() if buffer else sentence[:cut])
            buffer = ""
            sentence = sentence[cut:].lstrip()
        if buffer and len(buffer) + 1 + len(sentence) > size:
            pieces.append(buffer)
            buffer = sentence
        else:
            buffer = f"{buffer} {sentence}".strip()
    if buffer:
        pieces.append(buffer)
    return pieces


def _tail(text: str, overlap: int) -> str:
    if overlap <= 0 or len(text) <= overlap:
        return text if overlap > 0 else ""
    tail = text[-overlap:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail


def chunk_text(text: str, *, size: int = 1000, overlap: int = 150) -> list[TextChunk]:
    if size < 100:
        raise ValueError("chunk size must be at least 100 characters")
    overlap = max(0, min(overlap, size // 2))
    chunks: list[TextChunk] = []
    parts: list[str] = []
    heading = ""  # of the chunk being filled
    section = ""  # the latest heading seen
    length = 0

    def emit() -> None:
        nonlocal parts, length, heading
        body = "\n\n".join(parts).strip()
        if body:
            chunks.append(TextChunk(index=len(chunks), text=body, heading=heading))
        parts, length, heading = [], 0, section

    for block_heading, block in _blocks(text):
        if block.startswith("\x00"):  # a heading starts a new chunk, unless this one is tiny
            section = block_heading
            if length >= size // 4:
                emit()
            if not parts:
                heading = section
            parts.append(block[1:])
            length += len(block)
            continue
        for piece in _split_long(block, size - overlap):
            if parts and length + len(piece) > size:
                previous = "\n\n".join(parts)
                emit()
                carry = _tail(previous, overlap)
                if carry:
                    parts, length = [carry], len(carry) + 2
            parts.append(piece)
            length += len(piece) + 2
    emit()
    return chunks
