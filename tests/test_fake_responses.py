"""Tests of the fake OpenAI Responses upstream, driven by the official SDK pointed straight at it.

Why: the gateway's tests trust this fake to speak the real wire format, to keep state, and to reject
what the real API rejects. If the official client parses it correctly here, and the validation
fires here, a gateway test failure points at the gateway, not at the fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from tests.fakes.responses_upstream import (
    FakeResponses,
    Reasoning,
    Usage,
    call,
    count_tokens,
    custom_call,
    error,
    fail_mid_stream,
    failed,
    function_calls,
    incomplete,
    reasoning,
    reply,
    say,
    text,
)
from tests.support import async_test, raw_post, responses_events, responses_items

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "clients"
AUTH = {"authorization": "Bearer sk-test"}
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
USER: Any = {"role": "user", "content": "Weather in Paris?"}


@asynccontextmanager
async def served(**options: Any) -> AsyncIterator[tuple[FakeResponses, openai.AsyncOpenAI]]:
    """A running fake and an SDK client for it; no retries, so one call is one request.

    The fake speaks plain HTTP, so the client skips loading the CA bundle, which costs ~30 ms a client.
    """
    async with FakeResponses(**options) as fake:
        http_client = openai.DefaultAsyncHttpxClient(verify=False)
        async with openai.AsyncOpenAI(
            base_url=fake.url, api_key="sk-test", max_retries=0, http_client=http_client
        ) as client:
            yield fake, client


def shape(response: Any) -> Any:
    """A response without what differs between two calls (ids, times) or what only the stream helper
    adds (parsed fields), so a streamed and a plain response compare equal."""
    dumped = response.to_dict()
    for key in ("id", "created_at", "completed_at"):
        dumped.pop(key)
    for item in dumped["output"]:
        item.pop("id")
        item.pop("parsed_arguments", None)
        for part in item.get("content", []):
            part.pop("parsed", None)
    return dumped


@async_test
async def test_create_returns_the_reference_response_shape() -> None:
    async with served() as (fake, client):
        counts = Usage(input_tokens=12, output_tokens=7, cached_tokens=4, reasoning_tokens=3)
        fake.script(text("Hi", " there", usage=counts))
        first = await client.responses.create(
            model="gpt-x",
            input="Hello",
            instructions="Be brief",
            tools=[WEATHER],
            temperature=0.5,
            metadata={"k": "v"},
            reasoning={"effort": "low"},
            text={"verbosity": "low"},
        )
        default = await client.responses.create(model="other", input="Hi")

    assert first.id.startswith("resp_")
    assert (first.object, first.status, first.model) == ("response", "completed", "gpt-x")
    assert (first.error, first.incomplete_details, first.previous_response_id) == (None, None, None)
    assert first.completed_at is not None and first.completed_at >= first.created_at
    [message] = first.output
    assert message.type == "message" and message.id.startswith("msg_")
    assert (message.role, message.status) == ("assistant", "completed")
    assert [(p.type, p.text, p.annotations) for p in message.content] == [
        ("output_text", "Hi there", [])
    ]
    assert first.output_text == "Hi there"
    usage = first.usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (12, 7, 19)
    assert (usage.input_tokens_details.cached_tokens, usage.output_tokens_details.reasoning_tokens) == (4, 3)
    # The request's settings come back, with the real API's defaults filled in.
    assert first.instructions == "Be brief" and first.metadata == {"k": "v"}
    assert first.tools[0].to_dict() == {**WEATHER, "description": None, "strict": True}
    assert (first.tool_choice, first.parallel_tool_calls, first.temperature, first.top_p) == ("auto", True, 0.5, 1.0)
    assert first.text is not None and first.text.to_dict() == {"format": {"type": "text"}, "verbosity": "low"}
    assert first.reasoning is not None and (first.reasoning.effort, first.reasoning.summary) == ("low", None)
    assert (first.truncation, first.store, first.service_tier) == ("disabled", True, "default")
    # An empty script falls back to the default reply, echoing the requested model.
    assert (default.model, default.output_text) == ("other", "Hello from fake")
    sent = fake.requests[0]
    assert (sent.method, sent.path, sent.api_key) == ("POST", "/v1/responses", "sk-test")
    assert sent.headers["authorization"] == "Bearer sk-test" and sent.json["input"] == "Hello"


@async_test
async def test_streamed_text_through_the_sdk_helpers_matches_a_plain_create() -> None:
    async with served() as (fake, client):
        fake.script(text("Hel", "lo"), text("Hel", "lo"))
        async with client.responses.stream(model="m", input="Hi", tools=[WEATHER]) as stream:
            events = [e async for e in stream]
            final = await stream.get_final_response()
        whole = await client.responses.create(model="m", input="Hi", tools=[WEATHER])

    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [(e.delta, e.snapshot) for e in events if e.type == "response.output_text.delta"]
    assert deltas == [("Hel", "Hel"), ("lo", "Hello")]
    created = events[0]
    assert created.type == "response.created" and created.response.id == final.id
    assert (created.response.status, created.response.output, created.response.usage) == ("in_progress", [], None)
    assert final.output_text == "Hello" and shape(final) == shape(whole)


@async_test
async def test_stream_framing_and_item_invariants_are_exact() -> None:
    async with FakeResponses() as fake:
        calls = (call("get_weather", '{"ci', 'ty":"Paris"}', call_id="call_1"), call("get_time", call_id="call_2"))
        thinking = Reasoning((("Hm", "m"), ("Then",)))  # two summary parts
        fake.script(reply(thinking, say("Let me check."), *calls))
        body = {"model": "m", "input": "Hi", "stream": True, "include": ["reasoning.encrypted_content"]}
        status, headers, raw = await raw_post(fake, "/responses", body, AUTH)

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = responses_events(raw)
    done = responses_items(events)
    assert [e["type"] for e in events[:3]] == ["response.created", "response.in_progress", "response.output_item.added"]
    completed = events[-1]
    assert completed["type"] == "response.completed" and completed["response"]["output"] == done
    assert completed["response"]["status"] == "completed" and completed["response"]["usage"]["total_tokens"] == 15
    assert [(d["type"], d.get("status")) for d in done] == [
        ("reasoning", None),
        ("message", "completed"),
        ("function_call", "completed"),
        ("function_call", "completed"),
    ]

    by_type: dict[str, list[Any]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    # Reasoning: the added item has no summary and no blob yet; the done item has both.
    assert by_type["response.output_item.added"][0]["item"] == {"id": done[0]["id"], "type": "reasoning", "summary": []}
    assert done[0]["summary"] == [{"type": "summary_text", "text": "Hmm"}, {"type": "summary_text", "text": "Then"}]
    assert done[0]["encrypted_content"].startswith("enc_") and done[0]["encrypted_content"] in fake.encrypted
    deltas = by_type["response.reasoning_summary_text.delta"]
    assert [(e["summary_index"], e["delta"]) for e in deltas] == [(0, "Hm"), (0, "m"), (1, "Then")]
    assert by_type["response.reasoning_summary_part.added"][0]["part"] == {"type": "summary_text", "text": ""}
    assert [e["text"] for e in by_type["response.reasoning_summary_text.done"]] == ["Hmm", "Then"]
    assert [e["part"] for e in by_type["response.reasoning_summary_part.done"]] == done[0]["summary"]
    # Each part closes before the next opens.
    kinds = [e["type"].removeprefix("response.reasoning_summary_") for e in events if "summary_index" in e]
    assert kinds == ["part.added", "text.delta", "text.delta", "text.done", "part.done"] + [
        "part.added", "text.delta", "text.done", "part.done"
    ]
    # Message: an empty part opens, text deltas fill it, the done events repeat the whole text.
    assert by_type["response.output_item.added"][1]["item"]["status"] == "in_progress"
    assert by_type["response.content_part.added"][0]["part"]["text"] == ""
    assert by_type["response.output_text.done"][0]["text"] == "Let me check."
    assert by_type["response.content_part.done"][0]["part"] == done[1]["content"][0]
    # Function calls: fc_ item ids, call_ call ids, argument fragments, then the whole arguments and name.
    assert [(d["id"][:3], d["call_id"], d["arguments"]) for d in done[2:]] == [
        ("fc_", "call_1", '{"city":"Paris"}'),
        ("fc_", "call_2", "{}"),
    ]
    assert by_type["response.output_item.added"][2]["item"]["arguments"] == ""
    assert [e["delta"] for e in by_type["response.function_call_arguments.delta"]] == ['{"ci', 'ty":"Paris"}', "{}"]
    assert [(e["name"], e["arguments"]) for e in by_type["response.function_call_arguments.done"]] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_time", "{}"),
    ]


@async_test
async def test_reasoning_and_function_call_then_a_turn_by_previous_response_id() -> None:
    async with served() as (fake, client):
        weather = call("get_weather", '{"city":', '"Paris"}', call_id="call_1")
        fake.script(reply(reasoning("Need", " the weather"), weather, usage=Usage(reasoning_tokens=4)), text("Sunny"))
        async with client.responses.stream(
            model="m", input=[USER], tools=[WEATHER], reasoning={"effort": "low", "summary": "auto"}
        ) as stream:
            events = [e async for e in stream]
            first = await stream.get_final_response()
        answer: Any = {"type": "function_call_output", "call_id": "call_1", "output": "18C"}
        second = await client.responses.create(model="m", previous_response_id=first.id, input=[answer])
        # Without the chain, the same result answers no call.
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model="m", input=[answer])

    assert [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"] == ["Need", " the weather"]
    arguments = [(e.delta, e.snapshot) for e in events if e.type == "response.function_call_arguments.delta"]
    assert arguments == [('{"city":', '{"city":'), ('"Paris"}', '{"city":"Paris"}')]
    thought, fc = first.output
    assert thought.type == "reasoning" and [s.text for s in thought.summary] == ["Need the weather"]
    assert thought.encrypted_content is None  # not asked for with `include`
    assert fc.type == "function_call" and fc.id is not None and fc.id.startswith("fc_")
    assert (fc.call_id, fc.name, fc.arguments) == ("call_1", "get_weather", '{"city":"Paris"}')
    assert first.usage is not None and first.usage.output_tokens_details.reasoning_tokens == 4

    assert second.output_text == "Sunny" and second.previous_response_id == first.id
    context = fake.stored[second.id].context
    assert [i["type"] for i in context] == ["message", "reasoning", "function_call", "function_call_output", "message"]
    assert context[1]["id"] == thought.id and context[2]["call_id"] == "call_1"
    assert caught.value.status_code == 400 and caught.value.param == "input"
    assert "No tool call found for function call output with call_id call_1." in caught.value.message


@async_test
async def test_custom_tool_call_streams_its_freeform_input_and_its_output_answers_it() -> None:
    async with served() as (fake, client):
        patch = custom_call("apply_patch", "*** Begin Patch\n", "*** End Patch\n", call_id="call_p")
        fake.script(reply(patch), text("Patched"))
        tool: Any = {"type": "custom", "name": "apply_patch", "description": "Edit files."}
        async with client.responses.stream(model="m", input=[USER], tools=[tool]) as stream:
            events = [e async for e in stream]
            first = await stream.get_final_response()
        answer: Any = {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"}
        second = await client.responses.create(model="m", previous_response_id=first.id, input=[answer])

    assert [e.delta for e in events if e.type == "response.custom_tool_call_input.delta"] == [
        "*** Begin Patch\n", "*** End Patch\n"]
    done = [e for e in events if e.type == "response.custom_tool_call_input.done"]
    assert [e.input for e in done] == ["*** Begin Patch\n*** End Patch\n"]
    (item,) = first.output
    assert item.type == "custom_tool_call" and item.id is not None and item.id.startswith("ctc_")
    assert (item.call_id, item.name, item.input) == ("call_p", "apply_patch", "*** Begin Patch\n*** End Patch\n")
    assert second.output_text == "Patched"


@async_test
async def test_stateless_turn_echoes_encrypted_reasoning_and_a_tampered_blob_is_refused() -> None:
    async with served() as (fake, client):
        weather = call("get_weather", '{"city":"Paris"}', call_id="call_7")
        fake.script(reply(reasoning("Checking"), weather), text("Sunny"))
        settings: Any = {"model": "m", "store": False, "include": ["reasoning.encrypted_content"], "tools": [WEATHER]}
        first = await client.responses.create(input=[USER], **settings)
        echoed = [item.to_dict() for item in first.output]
        answer = {"type": "function_call_output", "call_id": "call_7", "output": "18C"}
        second = await client.responses.create(input=[USER, *echoed, answer], **settings)

        tampered = {**echoed[0], "encrypted_content": echoed[0]["encrypted_content"] + "x"}
        with pytest.raises(openai.BadRequestError) as bad_blob:
            await client.responses.create(input=[USER, tampered, echoed[1], answer], **settings)
        # Without its blob, a reasoning item is looked up by id, and a stateless response kept none.
        stripped = {k: v for k, v in echoed[0].items() if k != "encrypted_content"}
        with pytest.raises(openai.NotFoundError) as by_id:
            await client.responses.create(input=[USER, stripped, echoed[1], answer], **settings)
        with pytest.raises(openai.NotFoundError) as chained:
            await client.responses.create(previous_response_id=first.id, input=[answer], **settings)
        third = await client.responses.create(input=[USER], **settings)

    blob = first.output[0].to_dict()["encrypted_content"]
    assert blob.startswith("enc_") and blob in fake.encrypted
    assert first.store is False and fake.stored == {}
    assert second.output_text == "Sunny"
    assert (bad_blob.value.param, bad_blob.value.code) == ("input[1].encrypted_content", "invalid_encrypted_content")
    assert f"The encrypted content for item {echoed[0]['id']} could not be verified." in bad_blob.value.message
    assert by_id.value.param == "input" and f"Item with id '{echoed[0]['id']}' not found." in by_id.value.message
    assert (chained.value.param, chained.value.code) == ("previous_response_id", "previous_response_not_found")
    assert third.output_text == "Hello from fake"  # the rejected requests consumed no scripted reply


@async_test
async def test_retrieve_list_input_items_and_delete() -> None:
    async with served() as (fake, client):
        fake.script(text("Hi"))
        developer = {"role": "developer", "content": "Be terse"}
        user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]}
        created = await client.responses.create(model="m", input=[developer, user], instructions="Sys")
        fetched = await client.responses.retrieve(created.id)
        page = await client.responses.input_items.list(created.id)
        ascending = [item async for item in client.responses.input_items.list(created.id, order="asc", limit=1)]
        deleted = await client.responses.delete(created.id)
        with pytest.raises(openai.NotFoundError) as gone:
            await client.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.delete(created.id)
        status, _, raw = await raw_post(fake, "/responses", {"model": "m", "input": "Hi"}, AUTH)
        response_id = orjson.loads(raw)["id"]
        async with aiohttp.ClientSession(headers=AUTH) as session:
            async with session.delete(f"{fake.url}/responses/{response_id}") as response:
                deletion = await response.json()

    assert fetched.to_dict() == created.to_dict()
    listed = [i.to_dict() for i in page.data]
    assert [(i["type"], i["role"], i["status"]) for i in listed] == [
        ("message", "user", "completed"),
        ("message", "developer", "completed"),
    ]  # newest first by default
    assert all(i["id"].startswith("msg_") for i in listed)
    assert listed[1]["content"] == [{"type": "input_text", "text": "Be terse"}]  # a string content as one part
    assert (page.first_id, page.last_id, page.has_more) == (listed[0]["id"], listed[1]["id"], False)
    assert [i.to_dict()["role"] for i in ascending] == ["developer", "user"]  # two pages of one, by cursor
    assert f"after={listed[1]['id']}" in fake.requests[4].query
    assert deleted is None and f"Response with id '{created.id}' not found." in gone.value.message
    assert status == 200 and deletion == {"id": response_id, "object": "response.deleted", "deleted": True}


@async_test
async def test_input_tokens_count_follows_the_documented_rule() -> None:
    async with served() as (fake, client):
        plain = await client.responses.input_tokens.count(model="m", input="abcdefgh", instructions="1234")
        fake.script(function_calls(call("f", '{"a":1}', call_id="call_1")))
        first = await client.responses.create(model="m", input="abcd", instructions="x" * 40)
        answer: Any = {"type": "function_call_output", "call_id": "call_1", "output": "done"}
        chained = await client.responses.input_tokens.count(previous_response_id=first.id, input=[answer])
        with pytest.raises(openai.NotFoundError):
            await client.responses.input_tokens.count(previous_response_id="resp_missing", input="Hi")
        after = await client.responses.create(model="m", input="Hi")

    assert (plain.object, plain.input_tokens) == ("response.input_tokens", (8 + 4) // 4 + 1)
    assert count_tokens([{"role": "user", "content": "abcdefgh"}], "1234") == plain.input_tokens
    # The chain's input and output count, its instructions do not: "abcd", '{"a":1}', "done".
    assert chained.input_tokens == (4 + 7 + 4) // 4 + 1
    assert after.output_text == "Hello from fake"  # counting consumed no scripted reply


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        ({"input": "Hi"}, 400, "model", "Missing required parameter: 'model'."),
        ({"model": "m"}, 400, "input", "Missing required parameter: 'input'."),
        ({"model": "m", "input": [{"type": "bogus"}]}, 400, "input[0].type", "Invalid value: 'bogus'."),
        ({"model": "m", "input": [{"role": "tool", "content": "1"}]}, 400, "input[0].role", "Invalid value: 'tool'."),
        (
            {"model": "m", "input": [USER, {"type": "function_call_output", "call_id": "call_x", "output": "1"}]},
            400,
            "input",
            "No tool call found for function call output with call_id call_x.",
        ),
        (
            {"model": "m", "input": [{"type": "custom_tool_call_output", "call_id": "call_y", "output": "1"}]},
            400,
            "input",
            "No tool call found for custom tool call output with call_id call_y.",
        ),
        (
            {"model": "m", "input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc_x"}]},
            400,
            "input[0].encrypted_content",
            "The encrypted content for item rs_1 could not be verified.",
        ),
        (
            {"model": "m", "input": [USER, {"type": "reasoning", "id": "rs_2", "summary": []}]},
            404,
            "input",
            "Item with id 'rs_2' not found.",
        ),
        ({"model": "m", "input": [{"type": "item_reference", "id": "msg_3"}]}, 404, "input", "Item with id 'msg_3'"),
        (
            {"model": "m", "input": "Hi", "tools": [{"type": "function", "function": {"name": "f"}}]},
            400,
            "tools[0].name",
            "Missing required parameter: 'tools[0].name'.",
        ),
        (
            {"model": "m", "input": "Hi", "text": {"format": {"type": "json_schema", "json_schema": {"name": "x"}}}},
            400,
            "text.format.name",
            "Missing required parameter: 'text.format.name'.",
        ),
        (
            {"model": "m", "input": "Hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
            400,
            "text.format.schema",
            "Missing required parameter: 'text.format.schema'.",
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "call_id": ["call_1"], "output": "x"}]},
            400,
            "input[0].call_id",
            "Invalid type for 'input[0].call_id': expected a string",
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "call_1", "output": {"text": "x"}}]},
            400,
            "input[0].output",
            "Invalid type for 'input[0].output': expected one of a string or array of input content",
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "call_1",
                                      "output": [{"type": "output_text", "text": "x"}]}]},
            400,
            "input[0].output[0].type",
            "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_image', 'input_file'.",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            400,
            "input[0].call_id",
            "Missing required parameter: 'input[0].call_id'.",
        ),
        (
            {"model": "m", "input": "Hi", "previous_response_id": "resp_missing"},
            404,
            "previous_response_id",
            "Previous response with id 'resp_missing' not found.",
        ),
    ],
)
@async_test
async def test_invalid_requests_are_rejected_like_the_real_api(
    body: Any, status: int, param: str, message: str
) -> None:
    async with served() as (fake, client):
        fake.script(text("kept"))
        with pytest.raises(openai.APIStatusError) as caught:
            await client.responses.create(**body)
        after = await client.responses.create(model="m", input="Hi")

    assert (caught.value.status_code, caught.value.param, caught.value.type) == (
        status,
        param,
        "invalid_request_error",
    )
    assert message in caught.value.message
    assert after.output_text == "kept"  # a rejected request consumes no scripted reply


@async_test
async def test_every_listed_item_kind_and_the_codex_requests_are_accepted() -> None:
    async with served() as (fake, client):
        fake.script(reply(reasoning("Stored"), say("Kept")))
        kept = await client.responses.create(model="m", input=[USER])
        thought, message = (item.to_dict() for item in kept.output)
        items: Any = [
            {"role": "developer", "content": "Be terse"},
            USER,
            {"type": "reasoning", "id": thought["id"], "summary": thought["summary"]},  # by id: it was stored
            {"type": "item_reference", "id": message["id"]},
            {"type": "message", "id": "msg_never_issued", "role": "assistant", "content": "Patching."},
            {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_c", "name": "apply_patch", "input": "*** x"},
            {"type": "custom_tool_call_output", "call_id": "call_c", "output": "Done"},
            {"type": "compaction", "encrypted_content": "opaque"},
        ]
        accepted = await client.responses.create(model="m", input=items)
        replies = []
        for name in ("codex.first-request.json", "codex.tool-result-request.json"):
            fixture = orjson.loads((FIXTURES / name).read_bytes())
            replies.append(await raw_post(fake, fixture["path"].removeprefix("/v1"), fixture["body"], AUTH))

    assert accepted.status == "completed"
    kept_input = fake.stored[accepted.id].input
    assert kept_input[4]["id"] == "msg_never_issued"  # an id the fake never issued is kept as sent
    assert kept_input[4]["content"] == [{"type": "output_text", "text": "Patching.", "annotations": []}]
    assert [i["type"] for i in kept_input] == ["message", "message", *(i["type"] for i in items[2:])]
    for status, _, raw in replies:
        events = responses_events(raw)
        assert status == 200 and events[-1]["type"] == "response.completed"
        assert events[-1]["response"]["store"] is False and events[-1]["response"]["tool_choice"] == "auto"


@async_test
async def test_incomplete_and_failed_responses() -> None:
    async with served() as (fake, client):
        counts = Usage(output_tokens=16)
        fake.script(
            incomplete("Hel", "lo", usage=counts),
            incomplete("Hel", "lo"),
            failed("server_error", "The model crashed.", say("Par")),
            failed("rate_limit_exceeded", "Too fast."),
        )
        cut = await client.responses.create(model="m", input="Hi", max_output_tokens=16)
        async with client.responses.stream(model="m", input="Hi", max_output_tokens=16) as stream:
            cut_events = [e async for e in stream]
            with pytest.raises(RuntimeError, match="response.completed"):
                await stream.get_final_response()
        broken = await client.responses.create(model="m", input="Hi")
        async with client.responses.stream(model="m", input="Hi") as stream:
            broken_events = [e async for e in stream]

    assert (cut.status, cut.output_text, cut.max_output_tokens) == ("incomplete", "Hello", 16)
    assert cut.incomplete_details is not None and cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output[0].type == "message" and cut.output[0].status == "incomplete"
    assert cut.usage is not None and cut.usage.output_tokens == 16 and cut.completed_at is None
    last = cut_events[-1]
    assert last.type == "response.incomplete" and last.response.status == "incomplete"
    assert [e.type for e in cut_events].count("response.output_item.done") == 1

    assert (broken.status, broken.output_text) == ("failed", "Par")
    assert broken.error is not None
    assert (broken.error.code, broken.error.message) == ("server_error", "The model crashed.")
    ending = broken_events[-1]
    assert ending.type == "response.failed" and ending.response.output == []
    assert ending.response.error is not None and ending.response.error.code == "rate_limit_exceeded"


@pytest.mark.parametrize("stream", [False, True])
@async_test
async def test_http_error_replies_raise_the_sdk_exceptions(stream: bool) -> None:
    async with served() as (fake, client):
        limited = error(429, "Slow down", type="requests", code="rate_limit_exceeded", headers={"retry-after": "2"})
        fake.script(limited, error(503, "Overloaded"))
        with pytest.raises(openai.RateLimitError) as slow:
            await client.responses.create(model="m", input="Hi", stream=stream)
        with pytest.raises(openai.InternalServerError) as down:
            await client.responses.create(model="m", input="Hi", stream=stream)

    assert (slow.value.status_code, slow.value.code, slow.value.type) == (429, "rate_limit_exceeded", "requests")
    assert "Slow down" in slow.value.message and slow.value.response.headers["retry-after"] == "2"
    assert (down.value.status_code, down.value.type) == (503, "server_error")
    assert fake.stored == {}


@async_test
async def test_mid_stream_error_events_and_dropped_connection() -> None:
    async with served() as (fake, client):
        fake.script(
            fail_mid_stream("Hel", message="boom"),
            fail_mid_stream("Hel", flat=True, message="flat boom"),
            fail_mid_stream("Hel", drop=True),
            fail_mid_stream("Hel"),
        )
        seen: list[str] = []
        with pytest.raises(openai.APIError, match="boom"):
            async with client.responses.stream(model="m", input="Hi") as stream:
                async for event in stream:
                    seen.append(event.type)
        # The SDK's own type for the event is flat: then it arrives as an event, not an exception.
        async with client.responses.stream(model="m", input="Hi") as stream:
            flat = [e async for e in stream]
            with pytest.raises(RuntimeError, match="response.completed"):
                await stream.get_final_response()
        with pytest.raises(openai.APIConnectionError):
            async for _ in await client.responses.create(model="m", input="Hi", stream=True):
                pass
        with pytest.raises(openai.InternalServerError, match="An error occurred"):
            await client.responses.create(model="m", input="Hi")

    assert seen[-1] == "response.output_text.delta" and "response.output_text.done" not in seen
    last = flat[-1]
    assert last.type == "error" and (last.code, last.message, last.param) == ("server_error", "flat boom", None)
    assert [e.type for e in flat[:-1]] == seen
    assert fake.disconnects == 0  # the fake itself ended those streams
    assert fake.stored == {}  # a response that broke off is not kept


@async_test
async def test_gate_holds_events_and_early_close_counts_a_disconnect() -> None:
    gate = asyncio.Event()
    async with served() as (fake, client):
        fake.script(text("a", "b", gate=gate))
        stream = await client.responses.create(model="m", input="Hi", stream=True)
        assert (await anext(stream)).type == "response.created"
        # The upstream is parked on the gate: the next event must not arrive.
        next_event = asyncio.ensure_future(anext(stream))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(next_event), 0.05)
        gate.set()
        assert (await next_event).type == "response.in_progress"
        assert [e.type async for e in stream][-1] == "response.completed"
        assert fake.disconnects == 0  # a complete stream is not a disconnect

        fake.script(text("x", "y", gate=asyncio.Event()))
        early = await client.responses.create(model="m", input="Hi", stream=True)
        await anext(early)
        await early.close()
        await fake.wait_for_disconnects(1)  # noticed while parked on the gate, without setting it
        assert fake.disconnects == 1


@async_test
async def test_head_and_chunk_delays() -> None:
    async with served() as (fake, client):
        fake.script(text("late", head_delay=0.5), text("a", "b", chunk_delay=0.01))
        with pytest.raises(openai.APITimeoutError):
            await client.responses.create(model="m", input="Hi", timeout=0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        events = [e async for e in await client.responses.create(model="m", input="Hi", stream=True)]
        # Every event after response.created is delayed.
        assert loop.time() - started >= (len(events) - 1) * 0.01


@async_test
async def test_a_credential_is_required() -> None:
    async with FakeResponses() as fake:
        status, _, raw = await raw_post(fake, "/responses", {"model": "m", "input": "Hi"}, {})

    assert status == 401 and orjson.loads(raw)["error"]["type"] == "invalid_request_error"
    assert fake.requests[0].api_key is None and fake.requests[0].json == {"model": "m", "input": "Hi"}
