"""HTTP executor: one request (with bounded retries and same-origin redirects) to a tool service.

Guarantees: a total deadline over everything (DNS, connect, retries, reading the body); retries
only for idempotent methods; a response size cap; no redirect to another origin; the SSRF guard
of `daarion.common.safe_http` (non-public destinations need TOOLCORE_ALLOWED_HOSTS); template
arguments are URL-encoded and cannot change the scheme or host. Secret headers are added here and
nowhere else; error messages never contain them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
from django.conf import settings

from daarion.common.safe_http import blocked_destination_in, make_safe_async_client
from toolcore.errors import ToolCallFailed
from toolcore.executors import Execution
from toolcore.models import PLACEHOLDER
from toolcore.schema import scrub
from toolcore.types import ToolContext

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
RETRY_STATUSES = frozenset({502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
EXCERPT_CHARS = 300
_CLIENT_TIMEOUT = 300.0  # upper bound only; each call passes its own deadline

# aiohttp-backed clients belong to one event loop: one client per loop, each paired with an
# async generator whose `finally` closes it when the loop shuts down (asyncio.run and asgiref's
# async_to_sync call loop.shutdown_asyncgens()), so short-lived loops leak no sessions.
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]
] = weakref.WeakKeyDictionary()


def _allowed_hosts() -> list[str]:
    return list(settings.TOOLCORE_ALLOWED_HOSTS)


async def _close_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.aclose()


async def _client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    entry = _clients.get(loop)
    if entry is not None and not entry[0].is_closed:
        return entry[0]
    client = make_safe_async_client(timeout=_CLIENT_TIMEOUT, allowed_hosts=_allowed_hosts)
    closer = _close_at_loop_shutdown(client)
    await closer.__anext__()  # now the loop tracks it and finalises it on shutdown
    _clients[loop] = (client, closer)
    return client


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, int | float):
        return "" if value is None else str(value)
    return orjson.dumps(value).decode()


def render_url(template: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Fill `{name}` placeholders URL-encoded; return the URL and the arguments left over."""
    used: set[str] = set()

    def fill(match) -> str:
        name = match.group(1)
        if name not in args:
            raise ToolCallFailed("invalid_args", f"Argument '{name}' is required.")
        used.add(name)
        text = _text(args[name])
        if text in (".", ".."):  # URL normalisation would turn these into path navigation
            raise ToolCallFailed("invalid_args", f"Argument '{name}' may not be '{text}'.")
        return quote(text, safe="")

    url = PLACEHOLDER.sub(fill, template)
    before, after = urlsplit(template), urlsplit(url)
    if (before.scheme, before.netloc) != (after.scheme, after.netloc):  # defence in depth
        raise ToolCallFailed("invalid_args", "Arguments may not change the tool's host.")
    return url, {key: value for key, value in args.items() if key not in used}


def _query(params: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list):
            pairs.extend((key, _text(item)) for item in value)
        else:
            pairs.append((key, _text(value)))
    return pairs


class _Retryable(Exception):
    def __init__(self, failure: ToolCallFailed) -> None:
        self.failure = failure


async def execute_http(*, spec, args: dict[str, Any], ctx: ToolContext) -> Execution:
    url, rest = render_url(spec.url_template, args)
    method = spec.http_method
    headers = {
        **spec.headers,
        **spec.secret_headers,
        "X-Request-ID": ctx.request_id or ctx.call_id,
        "X-DAARION-Agent-ID": ctx.agent_id,
        "X-DAARION-MicroDAO-ID": ctx.microdao_id,
        "X-DAARION-Tool-Call-ID": ctx.call_id,
    }
    body: dict[str, Any] = {"json": rest} if method in BODY_METHODS else {"params": _query(rest)}
    allowed_attempts = 1 + (spec.retries if method in IDEMPOTENT_METHODS else 0)
    deadline = spec.timeout_seconds
    attempts = 0
    try:
        async with asyncio.timeout(deadline):
            while True:
                attempts += 1
                try:
                    status, result = await _attempt(method, url, headers, body, deadline, spec)
                    return Execution(result=result, http_status=status, attempts=attempts)
                except _Retryable as retry:
                    retry.failure.attempts = attempts
                    if attempts >= allowed_attempts:
                        raise retry.failure from None
                    await asyncio.sleep(min(0.05 * 2 ** (attempts - 1), 1.0))
                except ToolCallFailed as failure:
                    failure.attempts = attempts
                    raise
    except TimeoutError:
        raise ToolCallFailed(
            "timeout",
            f"The tool did not answer within {deadline:g} s. Try again later or with a "
            "narrower request.",
            attempts=attempts,
        ) from None


async def _attempt(
    method: str,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    deadline: float,
    spec,
) -> tuple[int, Any]:
    client = await _client()
    secrets = spec.secret_values
    for hop in range(MAX_REDIRECTS + 1):
        request = client.build_request(method, url, headers=headers, timeout=deadline, **body)
        try:
            response = await client.send(request, stream=True)
        except (httpx.TransportError, OSError) as exc:  # OSError: the SSRF guard's refusal
            raise _transport_failure(exc) from None
        try:
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                target = request.url.join(response.headers["location"])
                if (target.scheme, target.host, target.port) != (
                    request.url.scheme,
                    request.url.host,
                    request.url.port,
                ):
                    raise ToolCallFailed(
                        "upstream_error",
                        "The tool service redirected to another host; such redirects are blocked.",
                        http_status=response.status_code,
                    )
                if hop == MAX_REDIRECTS:
                    raise ToolCallFailed("upstream_error", "The tool service redirected too often.")
                status = response.status_code
                if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
                    method, body = "GET", {}
                elif "params" in body:
                    body = {}  # the query string is already in the redirect target
                url = str(target)
                continue
            raw = await _read_capped(response)
        except httpx.TransportError as exc:
            raise _transport_failure(exc) from None
        finally:
            await response.aclose()
        return response.status_code, _interpret(response, raw, secrets)
    raise AssertionError("unreachable")  # pragma: no cover


async def _read_capped(response: httpx.Response) -> bytes:
    cap = settings.TOOLCORE_MAX_RESPONSE_BYTES
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(cap, response.status_code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise _too_large(cap, response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(cap: int, status: int) -> ToolCallFailed:
    return ToolCallFailed(
        "upstream_error",
        f"The tool's response is larger than {cap} bytes and was discarded. Ask for less data "
        "(a filter or a smaller limit).",
        http_status=status,
        details={"reason": "response_too_large"},
    )


def _interpret(response: httpx.Response, raw: bytes, secrets: tuple[str, ...]) -> Any:
    status = response.status_code
    content_type = response.headers.get("content-type", "")
    if 200 <= status < 300:
        if not raw:
            return None
        if "json" in content_type:
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ToolCallFailed(
                    "upstream_error", "The tool service sent invalid JSON.", http_status=status
                ) from None
        return raw.decode(response.encoding or "utf-8", errors="replace")
    message = f"The tool service answered HTTP {status}."
    if 400 <= status < 500:
        # Redact the whole body first: cutting first would leave a secret's prefix at the cut.
        text = scrub(raw.decode("utf-8", errors="replace"), secrets)
        excerpt = text[:EXCERPT_CHARS].strip()
        if excerpt:
            message += f" It said: {excerpt}"
    failure = ToolCallFailed(
        "upstream_error", message, http_status=status, details={"status": status}
    )
    if status in RETRY_STATUSES:
        raise _Retryable(failure)
    raise failure


def _transport_failure(exc: Exception) -> Exception:
    blocked = blocked_destination_in(exc)
    if blocked is not None:
        logger.warning("tool request blocked by the SSRF guard: %s", blocked)
        return ToolCallFailed(
            "upstream_error",
            "The tool's destination is not allowed by the network policy "
            "(non-public address that is not allowlisted).",
            details={"reason": "blocked_destination"},
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ToolCallFailed("upstream_error", "The tool's URL is not usable.")
    return _Retryable(
        ToolCallFailed(
            "upstream_error",
            "Could not reach the tool service (connection failed). Try again later.",
            details={"reason": "connection_failed"},
        )
    )
