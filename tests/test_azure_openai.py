"""Azure OpenAI as an upstream (`type = "azure-openai"`), against a fake Azure resource's v1 API
(`FakeOpenAI(azure=True)`: `/openai/v1`, the key in `api-key`, content filter results in every
answer): the openai, anthropic and google-genai SDKs read its answers whole and streamed, its
stream's opening chunk of prompt filter results alone included; the key goes in `api-key` (a
token in `headers` for Entra ID); the resource's bare endpoint and the environment configure it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.pricing import PriceTable
from interlingua.adapters.providers.azure_openai import AzureOpenAIProvider
from interlingua.adapters.providers.base import Target
from interlingua.adapters.state.local import LocalCounters
from interlingua.app.config import from_env, parse
from interlingua.middleware.limits import LimitsMiddleware
from interlingua.middleware.state import COST, OPERATION, PRINCIPAL, TARGET, USAGE, Principal
from tests.asgi import call, run
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import (
    anthropic_client,
    chat_text,
    claude_message,
    client,
    gateway,
    gemini_client,
    streamed_response,
)
from tests.support import async_test

KEY = "azure-upstream-secret"
DEPLOYMENT = "team-gpt"  # the name the operator gave the deployment, which Azure routes by
ANSWERED = "gpt-4o-2024-11-20"  # the model Azure says answered


def _azure(url: str, **options: Any) -> dict[str, Any]:
    return {"providers": {"azure": {"type": "azure-openai", "url": url, "key": KEY, "models": [DEPLOYMENT],
                                    **options}}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@async_test
async def test_a_chat_client_reads_azures_answer(tmp_path: Path, stream: bool) -> None:
    async with fo.FakeOpenAI(azure=True) as up, gateway(tmp_path, **_azure(up.url)) as (_, url):
        up.script(fo.text("Hel", "lo", model=ANSWERED))
        text = await chat_text(client(url).chat.completions, stream, model=DEPLOYMENT,
                               messages=[{"role": "user", "content": "Hi"}])
        assert text == "Hello"
        sent = up.requests[-1]
        assert (sent.path, sent.headers["api-key"], sent.json["model"]) == (
            "/openai/v1/chat/completions", KEY, DEPLOYMENT)
        assert "authorization" not in sent.headers


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@async_test
async def test_claude_and_gemini_clients_read_azures_answer(tmp_path: Path, stream: bool) -> None:
    """Translated, the stream's start is its first chunk with an id, not Azure's chunk of prompt
    filter results (empty id and model): the clients are told the model that answered."""
    async with fo.FakeOpenAI(azure=True) as up, gateway(tmp_path, **_azure(up.url)) as (_, url):
        up.script(fo.text("Hel", "lo", model=ANSWERED), fo.text("Hel", "lo", model=ANSWERED))
        message = await claude_message(anthropic_client(url).messages, stream, model=DEPLOYMENT, max_tokens=50,
                                       messages=[{"role": "user", "content": "Hi"}])
        assert [block.text for block in message.content if block.type == "text"] == ["Hello"]
        assert message.model == ANSWERED
        models = gemini_client(url).aio.models
        if stream:
            chunks = [c async for c in await models.generate_content_stream(model=DEPLOYMENT, contents="Hi")]
        else:
            chunks = [await models.generate_content(model=DEPLOYMENT, contents="Hi")]
        assert "".join(c.text or "" for c in chunks) == "Hello"
        assert {c.model_version for c in chunks} == {ANSWERED}


@async_test
async def test_entra_id_sends_its_token_and_no_key(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(azure=True) as up, gateway(tmp_path, providers={"azure": {
            "type": "azure-openai", "url": up.url, "models": [DEPLOYMENT],
            "headers": {"authorization": "Bearer entra-token"}}}) as (_, url):
        answer = await client(url).chat.completions.create(model=DEPLOYMENT,
                                                           messages=[{"role": "user", "content": "Hi"}])
        assert answer.choices[0].message.content == "Hello from fake"
        assert up.requests[-1].headers["authorization"] == "Bearer entra-token"
        assert "api-key" not in up.requests[-1].headers


@async_test
async def test_a_refused_key_is_an_upstream_error_that_names_no_key(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(azure=True) as up, gateway(tmp_path, **_azure(up.url, key="")) as (_, url):
        with pytest.raises(openai.APIStatusError) as refused:
            await client(url).chat.completions.create(model=DEPLOYMENT, messages=[{"role": "user", "content": "Hi"}])
        assert refused.value.status_code >= 400 and "Access denied" in refused.value.message
        assert KEY not in refused.value.message


@pytest.mark.parametrize(("given", "base"), [
    ("https://team.openai.azure.com", "https://team.openai.azure.com/openai/v1"),
    ("https://team.openai.azure.com/", "https://team.openai.azure.com/openai/v1"),
    ("https://team.openai.azure.com/openai/v1", "https://team.openai.azure.com/openai/v1"),
    ("https://proxy.example/azure/openai/v1", "https://proxy.example/azure/openai/v1"),
])
def test_the_resources_endpoint_is_the_v1_apis_base(given: str, base: str) -> None:
    config = parse({"providers": {"azure": {"type": "azure-openai", "url": given, "key": "k", "api": "responses"}}},
                   {}, "test")
    assert (config.providers["azure"].url, config.providers["azure"].api) == (base, "responses")


def test_the_environment_configures_azure_as_openai_s_sdk_reads_it() -> None:
    config = from_env({"AZURE_OPENAI_ENDPOINT": "https://team.openai.azure.com/", "AZURE_OPENAI_API_KEY": "az-key"})
    azure = config.providers["azure"]
    assert (azure.type, azure.url, azure.key) == ("azure-openai", "https://team.openai.azure.com/openai/v1", "az-key")


@async_test
async def test_a_deployment_does_what_its_model_does(tmp_path: Path) -> None:
    """`deployments` names the model behind each deployment: one whose name says nothing embeds
    because it deploys an embedding model, and is listed and routed like the models of `models`."""
    deployed = {"search-vectors": "text-embedding-3-small", DEPLOYMENT: "gpt-4o"}
    async with fo.FakeOpenAI(azure=True) as up, gateway(tmp_path, **_azure(up.url, models=[],
                                                                          deployments=deployed)) as (_, url):
        sdk = client(url)
        answer = await sdk.embeddings.create(model="search-vectors", input=["a", "bcd"])
        assert [item.embedding for item in answer.data] == [[0.0, 1.0, 1.0], [1.0, 3.0, 1.0]]
        sent = up.requests[-1]
        assert (sent.path, sent.headers["api-key"], sent.json["model"]) == (
            "/openai/v1/embeddings", KEY, "search-vectors")
        with pytest.raises(openai.BadRequestError, match="does not support embeddings"):
            await sdk.embeddings.create(model=DEPLOYMENT, input=["a"])
        listed = {m.id for m in (await sdk.models.list()).data}
        assert {"search-vectors", DEPLOYMENT} <= listed


def test_a_deployment_costs_what_its_model_costs() -> None:
    """A key's budget counts an answer of a deployment at its model's price (its name has none)."""
    azure = AzureOpenAIProvider("azure", "https://team.openai.azure.com/openai/v1", deployments={DEPLOYMENT: "gpt-4o"})
    usage = ir.Usage(input_tokens=1_000_000, output_tokens=1_000_000)

    async def answering(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"][USAGE], scope["state"][TARGET] = usage, Target(azure, DEPLOYMENT)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    answered = run(call(LimitsMiddleware(answering, LocalCounters()), state={
        PRINCIPAL: Principal("k", budget=100.0), OPERATION: ops.CHAT}))
    assert answered.scope["state"][COST] == PriceTable().cost("gpt-4o", usage) > 0
    assert PriceTable().cost(DEPLOYMENT, usage) == 0.0  # what the name alone would have cost


@async_test
async def test_a_responses_client_on_azures_responses_api(tmp_path: Path) -> None:
    """`api = "responses"`, as Codex CLI on an Azure deployment: the turn goes to the resource's
    `/openai/v1/responses` with its key, asked statelessly, and streams back."""
    async with fr.FakeResponses(azure=True) as up, gateway(tmp_path, **_azure(up.url, api="responses")) as (_, url):
        up.script(fr.text("Hel", "lo"))
        final, kinds = await streamed_response(client(url), model=DEPLOYMENT, input="Hi")
        assert final.output_text == "Hello" and kinds[-1] == "response.completed"
        sent = up.requests[-1]
        assert (sent.path, sent.headers["api-key"], sent.json["model"], sent.json["store"]) == (
            "/openai/v1/responses", KEY, DEPLOYMENT, False)
