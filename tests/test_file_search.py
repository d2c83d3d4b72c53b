"""The Responses API's `file_search` tool over the gateway's vector stores, run by the gateway on
Claude, a Chat model and a Responses upstream, whole and streamed, driven by the official `openai`
SDK: the upstream is given a `file_search` function and the passages as its result, the client gets
`file_search_call` items (with results where it `include`s them) and the answer, one Response with
every round's usage; a continuation replays the search to the model; a tool naming stores the
gateway does not keep goes to the upstream as it came."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_provider, client, gateway, provider, streamed_response
from tests.support import async_test
from tests.test_vector_stores import RETURNS, SHIPPING

QUESTION = "How long do refunds take to reach my card?"


async def _store(sdk: openai.AsyncOpenAI) -> tuple[str, str]:
    """A store of the returns policy and the shipping notes, indexed; its id and the policy's file id."""
    returns = await sdk.files.create(file=("returns.txt", RETURNS.encode(), "text/plain"), purpose="assistants")
    shipping = await sdk.files.create(file=("shipping.md", SHIPPING.encode(), "text/markdown"), purpose="assistants")
    store = await sdk.vector_stores.create(name="care", file_ids=[returns.id, shipping.id])
    for _ in range(600):
        if (await sdk.vector_stores.retrieve(store.id)).status == "completed":
            return store.id, returns.id
        await asyncio.sleep(0.05)
    raise AssertionError("not indexed")


def _tool(store_id: str, **options: Any) -> dict[str, Any]:
    return {"type": "file_search", "vector_store_ids": [store_id], **options}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_claude_searches_the_store_and_answers(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
                "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
            sdk = client(url)
            store_id, returns_id = await _store(sdk)
            up.script(fa.reply(fa.say("Let me look."), fa.call("file_search", '{"queries": ["refund ', 'time"]}',
                                                               id="toolu_1")),
                      fa.text("Refunds reach the card ", "within five working days."))
            body: dict[str, Any] = {"model": "claude-x", "input": QUESTION, "include": ["file_search_call.results"],
                                    "tools": [_tool(store_id, max_num_results=2)]}
            if stream:
                answer, kinds = await streamed_response(sdk, **body)
                searched = kinds.index("response.file_search_call.searching")
                assert kinds[searched - 1] == "response.file_search_call.in_progress"
                assert kinds[searched + 1:searched + 3] == ["response.file_search_call.completed",
                                                            "response.output_item.done"]
                assert kinds.count("response.created") == 1 and kinds[-1] == "response.completed"
                assert kinds.index("response.output_text.delta") < searched  # "Let me look." came first
            else:
                answer = await sdk.responses.create(**body)
            assert [item.type for item in answer.output] == ["message", "file_search_call", "message"]
            search = answer.output[1]
            assert search.queries == ["refund time"] and search.status == "completed"
            assert search.results is not None and search.results[0].file_id == returns_id
            assert search.results[0].filename == "returns.txt" and "30 days" in (search.results[0].text or "")
            assert answer.output_text == "Let me look.Refunds reach the card within five working days."
            assert answer.usage is not None and answer.usage.input_tokens == 20 and answer.usage.output_tokens == 10
            assert [t.type for t in answer.tools] == ["file_search"]  # as the client declared it

            first, second = up.requests[-2].json, up.requests[-1].json
            assert [(t["name"], t["input_schema"]["required"]) for t in first["tools"]] == [
                ("file_search", ["queries"])]
            turn = second["messages"]
            assert turn[1]["content"][-1] == {"type": "tool_use", "id": "toolu_1", "name": "file_search",
                                              "input": {"queries": ["refund time"]}}
            result = turn[2]["content"][0]
            assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_1"
            assert "returns.txt" in str(result["content"]) and "30 days" in str(result["content"])

            up.script(fa.text("Yes, within 30 days."))
            later = await sdk.responses.create(model="claude-x", previous_response_id=answer.id,
                                               input="Can I return unused items?", tools=[_tool(store_id)])
            assert later.output_text == "Yes, within 30 days."
            replayed = up.requests[-1].json["messages"]
            uses = [b for m in replayed if isinstance(m["content"], list) for b in m["content"]
                    if b.get("type") == "tool_use"]
            assert [(u["name"], u["input"]) for u in uses] == [("file_search", {"queries": ["refund time"]})]
            results = [b for m in replayed if isinstance(m["content"], list) for b in m["content"]
                       if b.get("type") == "tool_result"]
            assert "30 days" in str(results[0]["content"])

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_claude_thinking_keeps_its_signed_thinking_across_the_search(tmp_path: Path, stream: bool) -> None:
    """With thinking on, Claude's next round must get the signed thinking block before its tool use
    (the fake refuses it otherwise), folded from the stream as from a whole answer."""

    @async_test
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
                "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
            sdk = client(url)
            store_id, _ = await _store(sdk)
            search = fa.call("file_search", '{"queries": ["refund"]}', id="toolu_7")
            up.script(fa.reply(fa.thinking("The policy ", "will say."), search), fa.text("Five working days."))
            body = {"model": "claude-x", "input": QUESTION, "reasoning": {"effort": "low"}, "tools": [_tool(store_id)]}
            answer = (await streamed_response(sdk, **body))[0] if stream else await sdk.responses.create(**body)
            assert answer.output_text == "Five working days."
            assert [i.type for i in answer.output] == ["reasoning", "file_search_call", "message"]
            replayed = up.requests[-1].json["messages"][1]["content"]
            assert [b["type"] for b in replayed] == ["thinking", "tool_use"]
            assert replayed[0]["thinking"] == "The policy will say." and replayed[0]["signature"]

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_chat_model_searches_without_results_kept(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, providers={
                "oa": provider(up.url, "gpt-x")}) as (_, url):
            sdk = client(url)
            store_id, _ = await _store(sdk)
            up.script(fo.tool_calls(fo.call("file_search", '{"queries": ["express delivery abroad"]}', id="call_1"),
                                    fo.call("file_search", '{"queries": ["refund"]}', id="call_2")),
                      fo.text("Three days abroad."))
            body = {"model": "gpt-x", "input": "How fast is express delivery abroad?",
                    "tools": [_tool(store_id), {"type": "code_interpreter", "container": {"type": "auto"}}]}
            if stream:
                answer = (await streamed_response(sdk, **body))[0]
            else:  # the search is the gateway's: only the tool a Chat model cannot run is said to be left out
                raw = await sdk.responses.with_raw_response.create(**body)
                assert raw.headers.get("x-interlingua-omitted-tools") == "code_interpreter"
                answer = raw.parse()
            assert [(i.type, getattr(i, "queries", None), getattr(i, "results", "-")) for i in answer.output] == [
                ("file_search_call", ["express delivery abroad"], None), ("file_search_call", ["refund"], None),
                ("message", None, "-")]
            assert answer.output_text == "Three days abroad."
            sent = up.requests[-1].json["messages"]
            assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
            assert [c["function"]["name"] for c in sent[1]["tool_calls"]] == ["file_search", "file_search"]
            assert "three days abroad" in sent[2]["content"] and sent[2]["tool_call_id"] == "call_1"
            assert up.requests[-1].json["tools"][0]["function"]["name"] == "file_search"

    scenario()


@async_test
async def test_a_hosted_tool_choice_is_taken(tmp_path: Path) -> None:
    """`tool_choice: {"type": "file_search"}` forces the gateway's search on Claude (it was a 400, as
    was every hosted tool's choice); a choice of a hosted tool the upstream lacks is the model's again."""
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        sdk = client(url)
        store_id, _ = await _store(sdk)
        up.script(fa.tool_use(fa.call("file_search", '{"queries": ["refund"]}', id="toolu_2")), fa.text("Done."))
        answer = await sdk.responses.create(model="claude-x", input=QUESTION, tools=[_tool(store_id)],
                                            tool_choice={"type": "file_search"})
        assert [i.type for i in answer.output] == ["file_search_call", "message"]
        first, second = up.requests[-2].json, up.requests[-1].json
        assert first["tool_choice"] == {"type": "tool", "name": "file_search"}
        assert "tool_choice" not in second or second["tool_choice"] == {"type": "auto"}

        up.script(fa.text("No image here."))
        plain = await sdk.responses.create(model="claude-x", input="hi", tool_choice={"type": "image_generation"},
                                           tools=[{"type": "image_generation"},
                                                  {"type": "function", "name": "lookup", "parameters": {}}])
        assert plain.output_text == "No image here."
        sent = up.requests[-1].json
        assert [t["name"] for t in sent["tools"]] == ["lookup"] and sent.get("tool_choice", {"type": "auto"}) == {
            "type": "auto"}


@async_test
async def test_a_model_that_keeps_searching_is_asked_for_an_answer(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, providers={
            "oa": provider(up.url, "gpt-x")}) as (_, url):
        sdk = client(url)
        store_id, _ = await _store(sdk)
        up.script(fo.tool_calls(fo.call("file_search", "{}", id="call_0")),  # no queries: told so
                  *(fo.tool_calls(fo.call("file_search", f'{{"queries": ["refund {n}"]}}', id=f"call_{n}"))
                    for n in range(1, 4)),
                  fo.text("From what I found: 30 days."))
        answer = await sdk.responses.create(model="gpt-x", input=QUESTION, tools=[_tool(store_id)])
        assert [getattr(i, "queries", None) for i in answer.output] == [[], ["refund 1"], ["refund 2"],
                                                                      ["refund 3"], None]
        assert answer.output_text == "From what I found: 30 days."
        asked = [r.json for r in up.requests[-5:]]
        assert ["file_search" in str(body.get("tools")) for body in asked] == [True, True, True, True, False]
        told = asked[1]["messages"][-1]
        assert told["tool_call_id"] == "call_0" and "queries" in told["content"]
        assert answer.usage is not None and answer.usage.output_tokens == 25  # five rounds of five


@async_test
async def test_max_tool_calls_bounds_the_searches(tmp_path: Path) -> None:
    """Two searches asked in one round of an answer that may make one: the first made, the second
    told it was not, and the model asked for an answer without the tool."""
    async with fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, providers={
            "oa": provider(up.url, "gpt-x")}) as (_, url):
        sdk = client(url)
        store_id, _ = await _store(sdk)
        up.script(fo.tool_calls(fo.call("file_search", '{"queries": ["refund"]}', id="call_1"),
                                fo.call("file_search", '{"queries": ["returns"]}', id="call_2")),
                  fo.text("30 days."))
        answer = await sdk.responses.create(model="gpt-x", input=QUESTION, tools=[_tool(store_id)], max_tool_calls=1)
        assert [getattr(i, "queries", None) for i in answer.output] == [["refund"], None]
        assert answer.output_text == "30 days."
        first, second = (r.json for r in up.requests[-2:])
        assert "file_search" in str(first["tools"]) and "tools" not in second
        made, refused = second["messages"][-2:]
        assert made["tool_call_id"] == "call_1" and "returns.txt" in made["content"]
        assert refused == {"role": "tool", "tool_call_id": "call_2",
                           "content": "Error: Not called: the answer's max_tool_calls (1) is reached."}
        with pytest.raises(openai.BadRequestError, match="max_tool_calls"):
            await sdk.responses.create(model="gpt-x", input=QUESTION, tools=[_tool(store_id)], max_tool_calls=-1)


@async_test
async def test_a_responses_upstream_gets_a_function_and_foreign_stores_pass(tmp_path: Path) -> None:
    async with fr.FakeResponses() as up, gateway(tmp_path, providers={
            "rs": {"type": "openai", "api": "responses", "url": up.url, "key": "sk-up-0123456789",
                   "models": ["gpt-5"]}}) as (_, url):
        sdk = client(url)
        store_id, _ = await _store(sdk)
        up.script(fr.function_calls(fr.call("file_search", '{"queries": ["refund"]}', call_id="call_9")),
                  fr.text("Five working days."))
        answer = await sdk.responses.create(model="gpt-5", input=QUESTION, tools=[_tool(store_id)])
        assert [i.type for i in answer.output] == ["file_search_call", "message"]
        first = up.requests[-2].json
        assert [(t["type"], t["name"]) for t in first["tools"]] == [("function", "file_search")]
        outputs = [i for i in up.requests[-1].json["input"] if i.get("type") == "function_call_output"]
        assert outputs[0]["call_id"] == "call_9" and "30 days" in outputs[0]["output"]

        up.script(fr.text("From OpenAI's own store."))
        foreign = await sdk.responses.create(model="gpt-5", input="x", tools=[_tool("vs_openai_own")])
        assert foreign.output_text == "From OpenAI's own store."
        assert up.requests[-1].json["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_openai_own"]}]

        with pytest.raises(openai.NotFoundError) as mixed:
            await sdk.responses.create(model="gpt-5", input="x", tools=[{
                "type": "file_search", "vector_store_ids": [store_id, "vs_elsewhere"]}])
        assert "vs_elsewhere" in mixed.value.message
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.responses.create(model="gpt-5", input="x", tools=[_tool(store_id, max_num_results=99)])
        assert bad.value.param == "tools[file_search].max_num_results"


def test_the_search_tool_is_valid_json_schema() -> None:
    from interlingua.adapters.dialects.openai_vector_stores import search_function

    tool = search_function()
    assert tool.parameters is not None and orjson.loads(orjson.dumps(tool.parameters))["required"] == ["queries"]
