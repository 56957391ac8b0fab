from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from daarion.common.errors import api_error_response
from daarion.server.auth import authenticate_request


@csrf_exempt
async def api_not_found(request: HttpRequest) -> HttpResponse:
    if await authenticate_request(request) is None:
        return api_error_response(
            401,
            "unauthorized",
            "Missing or invalid credentials.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return api_error_response(404, "not_found", f"No endpoint {request.method} {request.path}.")
