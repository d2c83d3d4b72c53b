"""Gemini File Search kept by the gateway, driven by the official `google-genai` SDK: stores made,
files uploaded straight into them (resumable, with custom metadata and chunking) and imported from
the Files API, the Operations polled until done, documents listed, paged, read and deleted, `force`
as Google asks for it, each key's own stores, the same stores seen by OpenAI's vector stores API;
and the `fileSearch` tool of a generateContent turn run by the gateway on Claude and on a Gemini
upstream, whole and streamed: the model is given a `file_search` function and the passages, the
client gets the answer and the passages as the candidate's `groundingMetadata`. Bad requests are
answered in Gemini's shape."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors, types

from interlingua.adapters import ir
from interlingua.adapters.dialects import metadata_filter
from interlingua.adapters.dialects.openai_vector_stores import matches
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.harness import anthropic_provider, client, gateway, gemini_client, gemini_provider
from tests.support import async_test
from tests.test_vector_stores import BOILER, RETURNS, SHIPPING

ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"
KEYS = {"alice": {"key": ALICE}, "bob": {"key": BOB}}
QUESTION = "How long do refunds take to reach my card?"


async def _done(sdk: Any, operation: Any) -> Any:
    for _ in range(600):
        if operation.done:
            return operation
        await asyncio.sleep(0.05)
        operation = await sdk.operations.get(operation)
    raise AssertionError("the operation was not done in 30 s")


async def _upload(sdk: Any, store: str, text: str, name: str, **config: Any) -> Any:
    return await sdk.file_search_stores.upload_to_file_search_store(
        file_search_store_name=store, file=io.BytesIO(text.encode()),
        config={"mime_type": "text/plain", "display_name": name, **config})


@async_test
async def test_stores_documents_and_operations(tmp_path: Path) -> None:
    async with gateway(tmp_path, keys=KEYS) as (_, url):
        sdk = gemini_client(url, ALICE).aio
        store = await sdk.file_search_stores.create(config={"display_name": "Customer care"})
        assert store.name is not None and store.name.startswith("fileSearchStores/customer-care-")
        assert len(store.name.split("/")[1]) == len("customer-care-") + 12 and store.display_name == "Customer care"
        assert store.active_documents_count is None  # zero, as proto JSON leaves it out

        uploaded = await _done(sdk, await _upload(
            sdk, store.name, RETURNS, "returns.txt",
            custom_metadata=[{"key": "kind", "string_value": "policy"}, {"key": "year", "numeric_value": 2024},
                             {"key": "tags", "string_list_value": {"values": ["money", "returns"]}}],
            chunking_config={"white_space_config": {"max_tokens_per_chunk": 200, "max_overlap_tokens": 20}}))
        assert uploaded.error is None and uploaded.name.startswith(store.name + "/upload/operations/")
        assert uploaded.response.parent == store.name
        returns = uploaded.response.document_name
        assert returns.startswith(store.name + "/documents/")

        raw = await sdk.files.upload(file=io.BytesIO(SHIPPING.encode()),
                                     config={"mime_type": "text/markdown", "display_name": "shipping.md"})
        imported = await sdk.file_search_stores.import_file(file_search_store_name=store.name, file_name=raw.name)
        assert imported.name.startswith(store.name + "/operations/")
        imported = await _done(sdk, imported)
        assert imported.error is None and imported.response.document_name.endswith("/" + raw.name.split("/")[1])

        kept = await sdk.file_search_stores.get(name=store.name)
        assert kept.active_documents_count == 2 and kept.pending_documents_count is None and kept.size_bytes
        document = await sdk.file_search_stores.documents.get(name=returns)
        assert document.display_name == "returns.txt" and document.state == types.DocumentState.STATE_ACTIVE
        assert document.mime_type == "text/plain" and document.size_bytes == len(RETURNS)
        metadata = {m.key: m.string_value or m.numeric_value or m.string_list_value.values  # type: ignore[union-attr]
                    for m in document.custom_metadata or ()}
        assert metadata == {"kind": "policy", "year": 2024.0, "tags": ["money", "returns"]}

        first = await sdk.file_search_stores.documents.list(parent=store.name, config={"page_size": 1})
        names = [d.name async for d in first]  # the pager asks for the second page itself
        assert names == [returns, imported.response.document_name]

        # OpenAI's clients see the same store, and its documents' metadata as attributes
        openai = client(url, ALICE)
        found = await openai.vector_stores.search(store.name.split("/")[1], query="refund to the card")
        assert found.data[0].filename == "returns.txt" and found.data[0].attributes == metadata

        with pytest.raises(errors.ClientError) as refused:
            await sdk.file_search_stores.documents.delete(name=returns)
        assert refused.value.code == 400 and refused.value.status == "FAILED_PRECONDITION"
        await sdk.file_search_stores.documents.delete(name=returns, config={"force": True})
        with pytest.raises(errors.ClientError) as gone:
            await sdk.file_search_stores.documents.get(name=returns)
        assert gone.value.code == 404 and gone.value.status == "NOT_FOUND"

        other = gemini_client(url, BOB).aio
        with pytest.raises(errors.ClientError) as hidden:
            await other.file_search_stores.get(name=store.name)
        assert hidden.value.code == 404
        assert [s.name async for s in await other.file_search_stores.list()] == []
        assert [s.name async for s in await sdk.file_search_stores.list()] == [store.name]

        with pytest.raises(errors.ClientError) as full:
            await sdk.file_search_stores.delete(name=store.name)
        assert full.value.status == "FAILED_PRECONDITION"
        await sdk.file_search_stores.delete(name=store.name, config={"force": True})
        with pytest.raises(errors.ClientError) as deleted:
            await sdk.file_search_stores.get(name=store.name)
        assert deleted.value.code == 404


@async_test
async def test_a_file_the_reader_cannot_read_fails_its_operation(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = gemini_client(url).aio
        store = await sdk.file_search_stores.create()
        assert store.name is not None and len(store.name.split("/")[1]) == 12  # no display name: random
        failed = await _done(sdk, await _upload(sdk, store.name, "   ", "blank.txt"))
        assert failed.response is None and failed.error is not None and "no text" in failed.error["message"]
        document = next(iter([d async for d in await sdk.file_search_stores.documents.list(parent=store.name)]))
        assert document.state == types.DocumentState.STATE_FAILED
        assert (await sdk.file_search_stores.get(name=store.name)).failed_documents_count == 1
        await sdk.file_search_stores.documents.delete(name=document.name)  # no chunks: no force needed


@pytest.mark.parametrize(("call", "status", "words"), [
    ("import_unknown", 404, "files/file-unknown"),
    ("upload_unknown", 404, "fileSearchStores/nowhere"),
    ("two_values", 400, "customMetadata[0]"),
    ("chunk_too_big", 400, "maxTokensPerChunk"),
    ("operation_unknown", 404, "documents/file-nothing"),
])
def test_bad_requests_are_answered_in_geminis_shape(tmp_path: Path, call: str, status: int, words: str) -> None:
    @async_test
    async def scenario() -> None:
        async with gateway(tmp_path) as (_, url):
            sdk = gemini_client(url).aio
            store = await sdk.file_search_stores.create(config={"display_name": "x"})
            assert store.name is not None
            with pytest.raises(errors.APIError) as refused:
                if call == "import_unknown":
                    await sdk.file_search_stores.import_file(file_search_store_name=store.name,
                                                             file_name="files/file-unknown")
                elif call == "upload_unknown":
                    await _upload(sdk, "fileSearchStores/nowhere", RETURNS, "r.txt")
                elif call == "two_values":
                    await _upload(sdk, store.name, RETURNS, "r.txt", custom_metadata=[
                        {"key": "k", "string_value": "a", "numeric_value": 1}])
                elif call == "chunk_too_big":
                    await _upload(sdk, store.name, RETURNS, "r.txt", chunking_config={
                        "white_space_config": {"max_tokens_per_chunk": 100_000}})
                else:
                    await sdk.operations.get(types.ImportFileOperation(name=store.name + "/operations/file-nothing"))
            assert refused.value.code == status and words in str(refused.value.message)

    scenario()


async def _care_store(sdk: Any) -> str:
    """A store of the returns policy (a `policy`) and the boiler manual (a `manual`), indexed."""
    store = await sdk.file_search_stores.create(config={"display_name": "care"})
    for text, name, kind in ((RETURNS, "returns.txt", "policy"), (BOILER, "boiler.txt", "manual")):
        await _done(sdk, await _upload(sdk, store.name, text, name,
                                       custom_metadata=[{"key": "kind", "string_value": kind}]))
    return str(store.name)


def _asked(store: str, **options: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(tools=[types.Tool(file_search=types.FileSearch(
        file_search_store_names=[store], **options))])


async def _generated(sdk: Any, model: str, config: types.GenerateContentConfig, stream: bool) -> tuple[str, Any]:
    """The answer's text and the grounding metadata the client read."""
    if not stream:
        answer = await sdk.models.generate_content(model=model, contents=QUESTION, config=config)
        return answer.text, answer.candidates[0].grounding_metadata
    texts, grounding = [], None
    async for chunk in await sdk.models.generate_content_stream(model=model, contents=QUESTION, config=config):
        texts.append(chunk.text or "")
        if chunk.candidates and chunk.candidates[0].grounding_metadata is not None:
            grounding = chunk.candidates[0].grounding_metadata
    return "".join(texts), grounding


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_claude_searches_a_file_search_store_for_a_gemini_client(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
                "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
            sdk = gemini_client(url).aio
            store = await _care_store(sdk)
            up.script(fa.tool_use(fa.call("file_search", '{"queries": ["refund time"]}', id="toolu_1")),
                      fa.text("Refunds reach the card ", "within five working days."))
            text, grounding = await _generated(sdk, "claude-x", _asked(store, top_k=1), stream)
            assert text == "Refunds reach the card within five working days."
            assert grounding is not None and len(grounding.grounding_chunks) == 1  # top_k
            context = grounding.grounding_chunks[0].retrieved_context
            assert context.title == "returns.txt" and "30 days" in context.text
            assert context.file_search_store == store
            assert [(m.key, m.string_value) for m in context.custom_metadata] == [("kind", "policy")]

            first, second = up.requests[-2].json, up.requests[-1].json
            assert [t["name"] for t in first["tools"]] == ["file_search"]
            result = second["messages"][-1]["content"][0]
            assert result["type"] == "tool_result" and "returns.txt" in str(result["content"])
            assert "boiler" not in str(result["content"])

    scenario()


@async_test
async def test_a_metadata_filter_limits_the_search_on_a_gemini_upstream(tmp_path: Path) -> None:
    async with fg.FakeGemini() as up, gateway(tmp_path, providers={
            "g": gemini_provider(up.url, "gemini-x")}) as (_, url):
        sdk = gemini_client(url).aio
        store = await _care_store(sdk)
        up.script(fg.function_calls(fg.call("file_search", {"queries": ["refund time"]})),
                  fg.text("The manual does not say."))
        text, grounding = await _generated(sdk, "gemini-x", _asked(store, metadata_filter='kind = "manual"'), False)
        assert text == "The manual does not say."
        titles = [c.retrieved_context.title for c in grounding.grounding_chunks]
        assert titles == ["boiler.txt"]
        first = up.requests[-2].json
        assert "fileSearch" not in str(first["tools"]) and "file_search" in str(first["tools"])
        answered = up.requests[-1].json["contents"][-1]["parts"][0]["functionResponse"]
        assert "boiler.txt" in str(answered) and "returns.txt" not in str(answered)

        up.script(fg.text("Searched by Google."))  # a store the gateway does not keep: Google's own
        await sdk.models.generate_content(model="gemini-x", contents=QUESTION,
                                          config=_asked("fileSearchStores/googles-own"))
        forwarded = up.requests[-1].json["tools"]  # as the SDK spells it, which Google reads
        assert forwarded == [{"fileSearch": {"file_search_store_names": ["fileSearchStores/googles-own"]}}]


@pytest.mark.parametrize(("text", "attributes", "passes"), [
    ('author = "Robert Graves" AND year > 1930', {"author": "Robert Graves", "year": 1934.0}, True),
    ('author = "Robert Graves" AND year > 1930', {"author": "Robert Graves", "year": 1929.0}, False),
    ('kind = "manual" OR kind = "policy"', {"kind": "policy"}, True),
    ("NOT (year < 2000)", {}, True),  # a missing key compares false, so its negation holds
    ('-kind:"manual"', {"kind": "manual"}, False),
    ('tags:"poetry" AND year >= 1930', {"tags": ["war", "poetry"], "year": 1930.0}, True),
    ('title = "say \\"hi\\""', {"title": 'say "hi"'}, True),
    ("year != 2024", {"year": 2024}, False),
])
def test_metadata_filters_read_as_google_writes_them(text: str, attributes: dict[str, Any], passes: bool) -> None:
    assert matches(metadata_filter.parse(text), attributes) is passes


@pytest.mark.parametrize("text", ['author = "open', "(a = 1", "a =", "a b", "= 1", "a = 1 AND",
                                  "((((((((((a=1))))))))))"])
def test_a_filter_gemini_would_not_read_is_a_400(text: str) -> None:
    with pytest.raises(ir.GatewayError) as refused:
        metadata_filter.parse(text)
    assert refused.value.status == 400 and refused.value.param == "metadataFilter"
