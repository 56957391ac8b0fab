"""The eight fidelity gaps of issue 14, each pinned with the openai SDK or plain HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest

from llm.models import RouteKind, UsageLog, UsageStatus
from llm.providers.offline import hash_embedding
from llm.usage import usage_flush
from tests.clients.checks import assert_text
from tests.clients.conftest import TIKTOKEN_DIR
from tests.llm.factories import OfflineProviderFactory, ProviderFactory, make_route

pytestmark = pytest.mark.django_db(transaction=True)
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def client(gateway):
    with openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key, max_retries=0) as c:
        yield c


@pytest.fixture
def http(gateway):
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=30) as c:
        yield c


def _rows(**filters) -> list[UsageLog]:
    usage_flush()
    return list(UsageLog.objects.filter(**filters).order_by("created_at"))


# 1. token-array embeddings -------------------------------------------------------------------
def test_token_arrays_pass_through_to_openai_protocol_providers(client, gateway):
    result = client.embeddings.create(model=gateway.embedding, input=[[1, 2, 3], [4, 5]])
    assert len(result.data) == 2
    assert gateway.state.last("embeddings")["input"] == [[1, 2, 3], [4, 5]]


@pytest.mark.skipif(not TIKTOKEN_DIR, reason="no bundled cl100k_base file (litellm not installed)")
def test_token_arrays_are_decoded_for_text_only_providers(client):
    import tiktoken

    make_route("offline-embed", OfflineProviderFactory(), kind="embedding", dimensions=384)
    tokens = tiktoken.get_encoding("cl100k_base").encode("проєкт X")
    result = client.embeddings.create(
        model="offline-embed", input=[tokens], encoding_format="float"
    )
    assert result.data[0].embedding == pytest.approx(hash_embedding("проєкт X", 384))


def test_token_arrays_without_a_tokenizer_are_a_clear_400(client, settings, tmp_path):
    settings.LLM_TIKTOKEN_DIR = str(tmp_path)  # no BPE file there
    make_route("text-only-embed", OfflineProviderFactory(), kind="embedding", dimensions=384)
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="text-only-embed", input=[[1, 2, 3]])
    assert "check_embedding_ctx_length=False" in caught.value.message
    assert caught.value.code == "token_input_unsupported" and caught.value.param == "input"
    [row] = _rows(model="text-only-embed")
    assert row.status == UsageStatus.ERROR and row.kind == RouteKind.EMBEDDING


# 2. /v1/responses: what is refused, and its usage row ------------------------------------------
def test_responses_refuses_previous_response_id_and_hosted_tools(client, gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=gateway.chat, input="Hi", previous_response_id="resp_1")
    assert caught.value.param == "previous_response_id" and "store" in caught.value.message
    with pytest.raises(openai.BadRequestError) as hosted:
        client.responses.create(model=gateway.chat, input="Hi", tools=[{"type": "web_search"}])
    assert hosted.value.param == "tools[0]"
    response = client.responses.create(model=gateway.chat, input="Hi")
    assert_text(response.output_text)
    rows = _rows(model=gateway.chat)
    assert [r.status for r in rows] == [UsageStatus.ERROR, UsageStatus.ERROR, UsageStatus.OK]
    assert rows[-1].prompt_tokens == 13 and rows[-1].agent_id == gateway.agent.id


# 3. n ------------------------------------------------------------------------------------------
def test_n_choices_and_indexes(client, gateway):
    completion = client.chat.completions.create(model=gateway.chat, messages=USER, n=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert completion.usage.completion_tokens == 15
    stream = client.chat.completions.create(model=gateway.chat, messages=USER, n=2, stream=True)
    texts = {0: "", 1: ""}
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert_text(texts[0])
    assert_text(texts[1])


def test_n_with_the_offline_provider_and_invalid_n(client):
    make_route("offline-chat", OfflineProviderFactory())
    completion = client.chat.completions.create(model="offline-chat", messages=USER, n=2)
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[0].message.content == completion.choices[1].message.content
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="offline-chat", messages=USER, n=0)
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="offline-chat", messages=USER, logprobs=True)
    assert "logprobs" in refused.value.message


# 4. dimensions ---------------------------------------------------------------------------------
def test_dimensions_passed_honoured_or_refused(client, gateway):
    result = client.embeddings.create(model=gateway.embedding, input="a", dimensions=16)
    assert len(result.data[0].embedding) == 16
    assert gateway.state.last("embeddings")["dimensions"] == 16
    make_route("offline-embed", OfflineProviderFactory(), kind="embedding", dimensions=384)
    result = client.embeddings.create(model="offline-embed", input="a", dimensions=64)
    assert len(result.data[0].embedding) == 64
    make_route(
        "ada",
        ProviderFactory(name="scripted"),
        kind="embedding",
        physical_model="fixed-dims",
        dimensions=8,
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="ada", input="a", dimensions=4)
    assert "dimensions" in caught.value.message


# 5. pass-through: logprobs, usage details, system_fingerprint, metadata, reasoning_content ----
def test_logprobs_details_fingerprint_and_metadata_pass_through(client, gateway):
    completion = client.chat.completions.create(
        model=gateway.chat,
        messages=USER,
        logprobs=True,
        metadata={"team": "research", "agent_id": gateway.agent.id},
    )
    assert completion.choices[0].logprobs.content[0].token == "Hello"
    assert completion.system_fingerprint == "fp_scripted"
    assert completion.usage.completion_tokens_details.reasoning_tokens == 2
    assert gateway.state.last("chat")["metadata"] == {"team": "research"}
    stream = client.chat.completions.create(
        model=gateway.chat, messages=USER, logprobs=True, stream=True
    )
    logprobs = [c.choices[0].logprobs for c in stream if c.choices and c.choices[0].logprobs]
    assert logprobs and logprobs[0].content[0].token == "Hello"


def test_reasoning_content_in_the_streamed_proxy_answer(gateway, internal_headers):
    make_route("reasoner", ProviderFactory(name="scripted"), physical_model="reasoner")
    body = {"model": "reasoner", "stream": True, "messages": USER}
    url = gateway.base_url.removesuffix("/v1") + "/internal/llm/proxy"
    with httpx.Client(timeout=30) as http:
        text = http.post(url, json=body, headers=internal_headers).text
    final = [line for line in text.split("\n\n") if '"done":true' in line.replace(" ", "")]
    assert '"reasoning_content":"Thinking hard."' in final[0]


# 6. OpenAI-shaped errors -----------------------------------------------------------------------
def test_schema_errors_are_openai_400s_with_a_usage_row(http, gateway, internal_headers):
    response = http.post("/chat/completions", json={"model": gateway.chat, "messages": "hi"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "messages"
    assert set(error) >= {"message", "type", "param", "code"}
    [row] = _rows(model=gateway.chat)
    assert row.status == UsageStatus.ERROR and row.agent_id == gateway.agent.id
    internal = httpx.post(
        gateway.base_url.removesuffix("/v1") + "/internal/llm/proxy",
        json={"model": gateway.chat, "messages": "hi"},
        headers=internal_headers,
    )
    assert internal.status_code == 422  # /internal keeps its shape


def test_upstream_error_code_is_preserved_and_keys_redacted(client, gateway):
    from tests.llm.factories import ProviderKeyFactory

    key = ProviderKeyFactory(provider=ProviderFactory(name="scripted")).secret
    make_route("too-long", ProviderFactory(name="scripted"), physical_model="too-long")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="too-long", messages=USER)
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "messages"
    assert key not in caught.value.response.text


# 7. every target 429 → 429 with the smallest Retry-After --------------------------------------
def test_all_targets_rate_limited_is_a_429_with_the_smallest_retry_after(client, gateway, settings):
    settings.LLM_RETRIES_PER_TARGET = 0
    route = make_route("busy", ProviderFactory(name="scripted"), physical_model="busy-a")
    route.targets.create(
        provider=ProviderFactory(name="scripted-2", base_url=gateway.upstream_url),
        physical_model="busy-b",
        priority=9,
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="busy", messages=USER)
    assert caught.value.response.headers["Retry-After"] == "3"


# 8. GET /v1/models/{id} ------------------------------------------------------------------------
def test_retrieve_one_model(client, gateway):
    assert client.models.retrieve(gateway.chat).id == gateway.chat
    assert client.models.retrieve(gateway.embedding).dimensions == 8
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("nope")
    assert caught.value.code == "model_not_found"
