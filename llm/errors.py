"""One error hierarchy for the gateway. Every class is a daarion ApiError, so the API answers it
as JSON with the right status. Messages never contain keys (adapters redact upstream text)."""

from __future__ import annotations

from typing import Any

from daarion.common import errors as common


class LlmError(common.ApiError):
    """Base of every gateway error."""


# --- raised by the gateway before or after calling providers --------------------------------
class InvalidLlmRequest(LlmError, common.BadRequest):
    pass


class UnknownModel(LlmError, common.NotFound):
    error_type = "model_not_found"


class AgentRateLimited(LlmError, common.RateLimited):
    pass


class BudgetExceeded(LlmError, common.RateLimited):
    error_type = "budget_exceeded"


class NoEnabledTarget(LlmError, common.ServiceUnavailable):
    pass


class AllTargetsFailed(LlmError, common.UpstreamError):
    """Every target failed; `details["attempts"]` lists each attempt's reason."""


class AllTargetsRateLimited(LlmError, common.RateLimited):
    """Every target answered 429: the caller should wait (Retry-After = the smallest one)."""

    error_type = "provider_rate_limited"


# --- raised by provider adapters (one attempt against one target) ----------------------------
class ProviderError(LlmError, common.UpstreamError):
    error_type = "upstream_error"
    retryable = False  # worth another attempt at the same target
    fallback = True  # worth trying the next target

    def __init__(self, message: str, *, status_code: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.upstream_status = status_code
        # OpenAI's error.code / param / type as the upstream sent them (e.g.
        # "context_length_exceeded"), so /v1 can hand them on; None when unknown.
        self.upstream_code: str | None = None
        self.upstream_param: str | None = None
        self.upstream_type: str | None = None


class ProviderAuthError(ProviderError):
    error_type = "provider_auth_error"


class ProviderRateLimited(ProviderError):
    error_type = "provider_rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError, common.GatewayTimeout):
    status_code = 504
    error_type = "timeout"
    # A timeout already cost a whole timeout: move on to the next target instead of repeating.
    retryable = False


class ProviderConnectionError(ProviderError):
    error_type = "connection_error"
    retryable = True


class ProviderUpstreamError(ProviderError):
    """5xx, or a reply that is not a valid OpenAI response (malformed JSON, cut stream)."""

    error_type = "upstream_error"
    retryable = True


class ProviderBadRequest(ProviderError, common.BadRequest):
    """The provider refused the request itself (4xx): not retried, returned to the caller."""

    status_code = 400
    error_type = "invalid_request"
    fallback = False

    def __init__(self, message: str, *, status_code: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)
        # Answer with the provider's own 4xx (400, 413, 422…) so the caller sees what it sent.
        if status_code is not None and 400 <= status_code < 500:
            self.status_code = status_code
