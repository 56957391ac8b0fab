"""The /v1 router (OpenAI-compatible): thin handlers over llm.gateway and llm.openai shapes.

Each handler marks the request (errors.GATEWAY_CALLED) before it hands it to the gateway, which
writes the request's usage row from then on; refusals before that get theirs from the /v1
error handlers (llm.openai.errors).
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router

from llm import gateway
from llm.errors import UnknownModel
from llm.models import RouteKind
from llm.openai.chat import chat_completion_response, chat_request_of, openai_agent
from llm.openai.embeddings import (
    check_dimensions,
    embedding_texts,
    encode_vector,
    normalise_input,
)
from llm.openai.errors import GATEWAY_CALLED
from llm.openai.responses import (
    ResponsesBody,
    finished,
    output_items,
    response_skeleton,
    responses_chat_request,
)
from llm.openai.responses_stream import response_events
from llm.openai.wire import SSE_HEADERS, json_response
from llm.registry import registry_aget
from llm.schemas import ChatBody, EmbeddingsBody

openai_router = Router()


def _to_gateway(request: HttpRequest) -> None:
    setattr(request, GATEWAY_CALLED, True)


@openai_router.post("/chat/completions", summary="OpenAI chat completions")
async def chat_completions(request: HttpRequest, body: ChatBody):
    chat_request = chat_request_of(request.auth, getattr(request, "request_id", None), body)
    _to_gateway(request)
    return await chat_completion_response(chat_request, stream=body.stream)


@openai_router.post("/responses", summary="OpenAI Responses API (translated to chat)")
async def responses(request: HttpRequest, body: ResponsesBody):
    chat_request = responses_chat_request(request, body)
    response_id = f"resp_{uuid.uuid4().hex}"
    skeleton = response_skeleton(body, response_id=response_id)
    _to_gateway(request)
    if body.stream:
        stream = await gateway.open_chat_stream(chat_request)
        return StreamingHttpResponse(
            response_events(stream, skeleton=skeleton),
            content_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    result = await gateway.chat(chat_request)
    return json_response(finished(skeleton, result, output_items(result, response_id=response_id)))


@openai_router.post("/embeddings", summary="OpenAI embeddings")
async def embeddings(request: HttpRequest, body: EmbeddingsBody):
    metadata = body.metadata
    agent_id = openai_agent(request.auth, metadata, body.user)
    dimensions = check_dimensions(body.dimensions)
    texts = await embedding_texts(model=body.model, inputs=normalise_input(body.input))
    _to_gateway(request)
    result = await gateway.embed(
        model=body.model,
        texts=texts,
        agent_id=agent_id,
        microdao_id=metadata.microdao_id if metadata else None,
        request_id=getattr(request, "request_id", None),
        dimensions=dimensions,
        input_type=body.input_type,
    )
    return json_response(
        {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": encode_vector(vector, body.encoding_format),
                }
                for i, vector in enumerate(result.vectors)
            ],
            "model": result.model,
            "usage": result.usage,
        }
    )


def _model(name: str, route) -> dict:
    data = {"id": name, "object": "model", "created": 0, "owned_by": "daarion", "kind": route.kind}
    if route.kind == RouteKind.EMBEDDING:
        data["dimensions"] = route.dimensions
    return data


@openai_router.get("/models", summary="Logical models (chat and embedding routes)")
async def models(request: HttpRequest):
    registry = await registry_aget()
    return json_response(
        {
            "object": "list",
            "data": [_model(name, route) for name, route in sorted(registry.routes.items())],
        }
    )


@openai_router.get("/models/{path:model_id}", summary="One logical model")
async def model(request: HttpRequest, model_id: str):
    registry = await registry_aget()
    route = registry.routes.get(model_id)
    if route is None:
        error = UnknownModel(f"The model '{model_id}' does not exist.")
        error.param = "model"
        raise error
    return json_response(_model(model_id, route))
