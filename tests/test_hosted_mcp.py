"""The Responses API's `mcp` tool run by the gateway on Claude and on a Chat model, driven by the
official `openai` SDK against real MCP servers made with the `mcp` SDK (`tests/mcp_servers.py`),
and Anthropic's MCP connector (`mcp_servers`, both the `mcp_toolset` form and the older one) run the
same way on a Chat model and on Claude for the `anthropic` SDK:
the server's allowed tools listed (`mcp_list_tools`, once a conversation), given to the model as
functions, called (`mcp_call` with the output, or the server's error), whole and streamed with
their phases; approvals asked (`mcp_approval_request`) and answered in the next turn, approved or
refused; the tool's headers and token reach the server; two servers with a tool of the same name;
a server at an address `[fetch]` does not allow is refused in OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.harness import (
    anthropic_client,
    anthropic_provider,
    claude_message,
    client,
    gateway,
    provider,
    serve,
    streamed_response,
)
from tests.mcp_servers import build
from tests.support import async_test

LOOPBACK = {"allow_networks": ["127.0.0.1/32"]}


class Heard:
    """An MCP server's app, and the headers and JSON-RPC method of every request that reached it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers: list[dict[bytes, bytes]] = []
        self.methods: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.headers.append(dict(scope["headers"]))

        async def heard() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                self.methods.append(json.loads(message["body"]).get("method"))
            return message

        await self.app(scope, heard, send)


@asynccontextmanager
async def calc(name: str = "calc") -> AsyncIterator[tuple[str, Heard]]:
    heard = Heard(build(name).streamable_http_app(stateless_http=True, json_response=True))
    async with serve(heard, lifespan="on") as url:
        yield url + "/mcp", heard


def _tool(url: str, label: str = "calc", **options: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": label, "server_url": url, "allowed_tools": ["add"],
            "require_approval": "never", **options}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_claude_calls_a_remote_mcp_tool(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with calc() as (mcp, heard), fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"an": anthropic_provider(up.url, "claude-x")}, fetch=LOOPBACK) as (_, url):
            sdk = client(url)
            up.script(fa.reply(fa.say("Adding."), fa.call("add", '{"a": 2, ', '"b": 3}', id="toolu_1")),
                      fa.text("2 and 3 make 5."))
            body: dict[str, Any] = {"model": "claude-x", "input": "What is 2+3?", "tools": [
                _tool(mcp, headers={"X-Team": "care"}, authorization="tok-123", server_description="Sums.")]}
            if stream:
                answer, kinds = await streamed_response(sdk, **body)
                called = kinds.index("response.mcp_call.in_progress")
                assert kinds[called + 1:called + 3] == ["response.mcp_call.completed", "response.output_item.done"]
                assert "response.mcp_list_tools.completed" in kinds and kinds[-1] == "response.completed"
                assert kinds.index("response.output_text.delta") < called  # "Adding." came first
            else:
                answer = await sdk.responses.create(**body)
            assert [item.type for item in answer.output] == ["mcp_list_tools", "message", "mcp_call", "message"]
            listed = answer.output[0]
            assert listed.type == "mcp_list_tools"
            assert listed.server_label == "calc" and [t.name for t in listed.tools] == ["add"]  # allowed_tools
            assert listed.tools[0].input_schema["required"] == ["a", "b"]
            call = answer.output[2]
            assert call.type == "mcp_call"
            assert (call.name, json.loads(call.arguments), call.output, call.error, call.status) == (
                "add", {"a": 2, "b": 3}, "5", None, "completed")
            assert answer.output_text == "Adding.2 and 3 make 5."
            assert answer.usage is not None and answer.usage.input_tokens == 20  # both rounds

            first, second = up.requests[-2].json, up.requests[-1].json
            assert [(t["name"], t["description"]) for t in first["tools"]] == [
                ("add", "Add two numbers.\n\nFrom the MCP server calc: Sums.")]
            result = second["messages"][-1]["content"][0]
            assert result == {"type": "tool_result", "tool_use_id": "toolu_1",
                              "content": [{"type": "text", "text": "5"}]}
            sent = heard.headers[-1]
            assert sent[b"x-team"] == b"care" and sent[b"authorization"] == b"Bearer tok-123"

    scenario()


@async_test
async def test_approvals_are_asked_then_approved_or_refused(tmp_path: Path) -> None:
    async with calc() as (mcp, heard), fo.FakeOpenAI(["gpt-x"]) as up, gateway(
            tmp_path, providers={"up": provider(up.url, "gpt-x")}, fetch=LOOPBACK) as (_, url):
        sdk = client(url)
        tool = _tool(mcp, require_approval={"never": {"tool_names": ["forbidden"]}})  # add needs approval
        up.script(fo.tool_calls(fo.call("add", '{"a": 4, "b": 5}', id="call_1")))
        asked = await sdk.responses.create(model="gpt-x", input="What is 4+5?", tools=[tool])
        assert [item.type for item in asked.output] == ["mcp_list_tools", "mcp_approval_request"]
        request = asked.output[1]
        assert (request.name, request.arguments, request.server_label) == ("add", '{"a": 4, "b": 5}', "calc")

        up.script(fo.text("It is 9."))
        calls = len(heard.methods)
        approved = await sdk.responses.create(model="gpt-x", previous_response_id=asked.id, tools=[tool], input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}])
        assert [item.type for item in approved.output] == ["mcp_call", "message"]  # listed once a conversation
        # the conversation's mcp_list_tools item is the server's tools: it is asked only for the call
        assert "tools/list" not in heard.methods[calls:] and "tools/call" in heard.methods[calls:]
        call = approved.output[0]
        assert call.approval_request_id == request.id and call.output == "9"
        messages = up.requests[-1].json["messages"]
        assert messages[-2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 4, "b": 5}'}
        assert messages[-1] == {"role": "tool", "tool_call_id": request.id, "content": "9"}

        up.script(fo.tool_calls(fo.call("add", '{"a": 1, "b": 1}', id="call_2")))
        again = await sdk.responses.create(model="gpt-x", previous_response_id=approved.id, tools=[tool],
                                           input="And 1+1?")
        refused_request = again.output[-1]
        up.script(fo.text("I was not allowed to add them."))
        calls = len(heard.methods)
        refused = await sdk.responses.create(model="gpt-x", previous_response_id=again.id, tools=[tool], input=[
            {"type": "mcp_approval_response", "approval_request_id": refused_request.id, "approve": False}])
        assert [item.type for item in refused.output] == ["message"]
        assert heard.methods[calls:] == []  # neither listed nor called: the server is not reached at all
        told = up.requests[-1].json["messages"][-1]
        assert told["role"] == "tool" and "did not approve" in told["content"]
        # the conversation so far reaches the model as the calls and results it was
        replayed = [m for m in up.requests[-1].json["messages"] if m["role"] == "tool"]
        assert [m["content"] for m in replayed][0] == "9"


@async_test
async def test_a_tools_error_and_two_servers_with_one_tool_name(tmp_path: Path) -> None:
    async with calc("one") as (first, _), calc("two") as (second, _), fa.FakeAnthropic() as up, gateway(
            tmp_path, providers={"an": anthropic_provider(up.url, "claude-x")}, fetch=LOOPBACK) as (_, url):
        up.script(fa.tool_use(fa.call("one__add", '{"a": "many", "b": 1}', id="toolu_1")),
                  fa.text("The server refused."))
        answer = await client(url).responses.create(model="claude-x", input="Add.", tools=[
            _tool(first, "one"), _tool(second, "two")], tool_choice={"type": "mcp", "server_label": "one",
                                                                      "name": "one__add"})
        asked = up.requests[-2].json
        assert asked["tool_choice"] == {"type": "tool", "name": "one__add"}
        assert [t["name"] for t in asked["tools"]] == ["one__add"]  # the choice's
        assert sorted(t["name"] for t in up.requests[-1].json["tools"]) == ["one__add", "two__add"]
        call = next(item for item in answer.output if item.type == "mcp_call")
        assert call.server_label == "one" and call.name == "add" and call.status == "failed"
        assert call.error is not None and call.error.type == "mcp_tool_execution_error"  # type: ignore[union-attr]
        result = up.requests[-1].json["messages"][-1]["content"][0]
        assert result["is_error"] is True and "failed" in str(result["content"])
        assert answer.output_text == "The server refused."


@async_test
async def test_a_server_on_the_legacy_sse_transport(tmp_path: Path) -> None:
    """A server that refuses the handshake's POST (405) is reached over HTTP+SSE at the same URL."""
    heard = Heard(build("old").sse_app())
    async with serve(heard, lifespan="on") as mcp, fo.FakeOpenAI(["gpt-x"]) as up, gateway(
            tmp_path, providers={"up": provider(up.url, "gpt-x")}, fetch=LOOPBACK) as (_, url):
        up.script(fo.tool_calls(fo.call("add", '{"a": 20, "b": 22}', id="call_1")), fo.text("42."))
        answer = await client(url).responses.create(model="gpt-x", input="20+22?", tools=[_tool(mcp + "/sse")])
        assert [item.type for item in answer.output] == ["mcp_list_tools", "mcp_call", "message"]
        call = answer.output[1]
        assert call.type == "mcp_call" and (call.output, call.error) == ("42", None)
        assert answer.output_text == "42."
        assert up.requests[-1].json["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        # the handshake's POST to the stream's URL was refused unread (405); then the stream was opened
        # and every message POSTed to the endpoint it named
        assert heard.methods == ["initialize", "notifications/initialized", "tools/list", "tools/call"]
        assert len(heard.headers) == 6


@async_test
async def test_a_server_that_is_away_is_a_503(tmp_path: Path) -> None:
    from tests.processes import free_port

    async with fa.FakeAnthropic() as up, gateway(
            tmp_path, providers={"an": anthropic_provider(up.url, "claude-x")}, fetch=LOOPBACK) as (_, url):
        with pytest.raises(openai.APIStatusError) as away:
            await client(url).responses.create(model="claude-x", input="Add.", tools=[
                _tool(f"http://127.0.0.1:{free_port()}/mcp")])
        assert away.value.status_code == 503 and "MCP server calc refused the connection" in away.value.message
        assert up.requests == []


@async_test
async def test_a_server_the_gateway_may_not_reach_is_refused(tmp_path: Path) -> None:
    async with calc() as (mcp, heard), fa.FakeAnthropic() as up, gateway(
            tmp_path, providers={"an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await client(url).responses.create(model="claude-x", input="Add.", tools=[_tool(mcp)])
        assert "127.0.0.1" in refused.value.message and "allow_networks" in refused.value.message
        assert heard.headers == [] and up.requests == []
        with pytest.raises(openai.BadRequestError) as bad:
            await client(url).responses.create(model="claude-x", input="Add.", tools=[
                {"type": "mcp", "server_label": "x", "server_url": "ftp://files.example/"}])
        assert "server_url" in bad.value.message


@async_test
async def test_a_turn_with_a_file_search_and_a_remote_mcp_tool(tmp_path: Path) -> None:
    """The MCP layer asks the file search layer below it once a round: both tools in one turn."""
    from tests.test_file_search import _store

    async with calc() as (mcp, _), fa.FakeAnthropic() as up, gateway(
            tmp_path, providers={"an": anthropic_provider(up.url, "claude-x")}, fetch=LOOPBACK) as (_, url):
        sdk = client(url)
        store_id, returns_id = await _store(sdk)
        up.script(fa.tool_use(fa.call("file_search", '{"queries": ["refund days"]}', id="toolu_1")),
                  fa.tool_use(fa.call("add", '{"a": 30, "b": 5}', id="toolu_2")),
                  fa.text("Thirty days, and five more for the card: 35."))
        answer = await sdk.responses.create(model="claude-x", input="How many days in all?", include=[
            "file_search_call.results"], tools=[{"type": "file_search", "vector_store_ids": [store_id]}, _tool(mcp)])
        assert [item.type for item in answer.output] == ["mcp_list_tools", "file_search_call", "mcp_call", "message"]
        assert answer.output[1].results[0].file_id == returns_id  # type: ignore[union-attr]
        assert answer.output[2].output == "35"  # type: ignore[union-attr]
        assert sorted(t["name"] for t in up.requests[-3].json["tools"]) == ["add", "file_search"]
        assert answer.usage is not None and answer.usage.input_tokens == 30  # three rounds


def test_function_names_are_ones_every_upstream_takes() -> None:
    from interlingua.adapters.dialects.openai_mcp import McpTool
    from interlingua.middleware.hosted_mcp import _functions, _Server

    def server(label: str, *names: str) -> _Server:
        spec = McpTool(label, "https://mcp.example/", None, {}, None, None)
        return _Server(spec, None, {name: {"name": name} for name in names}, None)  # type: ignore[arg-type]  # never called

    made = _functions([server("docs", "files.read", "x" * 80, "search", "clock"),
                       server("web", "search", "files/read", "docs__clock")], {"clock"})
    assert {name: (s.spec.label, tool["name"]) for name, (s, tool) in made.items()} == {
        "files_read": ("docs", "files.read"), "x" * 64: ("docs", "x" * 80), "docs__search": ("docs", "search"),
        "docs__clock": ("docs", "clock"), "web__search": ("web", "search"), "files_read_2": ("web", "files/read"),
        "docs__clock_2": ("web", "docs__clock")}  # the client's own `clock` keeps its name


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_anthropics_mcp_connector_runs_on_a_chat_model(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with calc() as (mcp, heard), fo.FakeOpenAI(["gpt-x"]) as up, gateway(
                tmp_path, providers={"up": provider(up.url, "gpt-x")}, fetch=LOOPBACK) as (_, url):
            sdk = anthropic_client(url)
            up.script(fo.tool_calls(fo.call("add", '{"a": 6, ', '"b": 7}', id="call_1")), fo.text("13."))
            body: dict[str, Any] = {
                "model": "gpt-x", "max_tokens": 200, "betas": ["mcp-client-2025-04-04"],
                "messages": [{"role": "user", "content": "What is 6+7?"}],
                "mcp_servers": [{"type": "url", "url": mcp, "name": "calc", "authorization_token": "tok-9",
                                 "tool_configuration": {"enabled": True, "allowed_tools": ["add"]}}]}
            message = await claude_message(sdk.beta.messages, stream, **body)
            use, result, text = message.content
            assert use.type == "mcp_tool_use" and (use.name, use.server_name, use.input) == (
                "add", "calc", {"a": 6, "b": 7})
            assert result.type == "mcp_tool_result" and result.tool_use_id == use.id and result.is_error is False
            assert result.content[0].text == "13"  # type: ignore[union-attr,index]
            assert text.type == "text" and text.text == "13." and message.stop_reason == "end_turn"
            first, second = up.requests[-2].json, up.requests[-1].json
            assert [t["function"]["name"] for t in first["tools"]] == ["add"] and "mcp_servers" not in first
            assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "13"}
            assert heard.headers[-1][b"authorization"] == b"Bearer tok-9"

            # the next turn sends the answer back: the call reaches the model as the call and result it was
            up.script(fo.text("Yes."))
            await sdk.beta.messages.create(**{**body, "messages": [
                *body["messages"], {"role": "assistant", "content": [b.model_dump() for b in message.content]},
                {"role": "user", "content": "Sure?"}]})
            replayed = up.requests[-1].json["messages"]
            assert replayed[1]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a":6,"b":7}'}
            assert replayed[2] == {"role": "tool", "tool_call_id": use.id, "content": "13"}
            assert replayed[3] == {"role": "assistant", "content": "13."}

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_anthropics_mcp_toolset_on_claude(tmp_path: Path, stream: bool) -> None:
    """The `mcp-client-2025-11-20` form: the toolset enables one tool; the server's listing reaches
    the client as an `mcp_tool_listing` block, and sent back, spares the next turn asking again."""

    @async_test
    async def scenario() -> None:
        async with calc() as (mcp, heard), fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"an": anthropic_provider(up.url, "claude-x")}, fetch=LOOPBACK) as (_, url):
            sdk = anthropic_client(url)
            up.script(fa.reply(fa.call("add", '{"a": 6, "b": 7}', id="toolu_1")), fa.text("13."))
            body: dict[str, Any] = {
                "model": "claude-x", "max_tokens": 200, "betas": ["mcp-client-2025-11-20"],
                "messages": [{"role": "user", "content": "What is 6+7?"}],
                "mcp_servers": [{"type": "url", "url": mcp, "name": "calc"}],
                "tools": [{"type": "mcp_toolset", "mcp_server_name": "calc", "default_config": {"enabled": False},
                           "configs": {"add": {"enabled": True}, "steps": {"enabled": False}}},
                          {"name": "clock", "description": "The time.", "input_schema": {"type": "object"}}]}
            message = await claude_message(sdk.beta.messages, stream, **body)
            listing, use, result, text = message.content
            assert listing.type == "mcp_tool_listing" and listing.mcp_server_name == "calc"
            assert {"add", "forbidden", "steps"} <= {t.name for t in listing.tools}  # the server's whole listing
            add = next(t for t in listing.tools if t.name == "add")
            assert add.description == "Add two numbers." and add.input_schema["required"] == ["a", "b"]
            assert use.type == "mcp_tool_use" and (use.name, use.server_name) == ("add", "calc")
            assert result.type == "mcp_tool_result" and result.content[0].text == "13"  # type: ignore[union-attr,index]
            assert text.type == "text" and text.text == "13."
            first = up.requests[-2].json
            assert [t["name"] for t in first["tools"]] == ["clock", "add"]  # no toolset, no servers for Claude
            assert "mcp_servers" not in first
            assert heard.methods.count("tools/list") == 1

            # sent back, the listing is the server's tools: the next turn does not ask for them
            up.script(fa.text("Yes."))
            calls = len(heard.methods)
            await sdk.beta.messages.create(**{**body, "messages": [
                *body["messages"], {"role": "assistant", "content": [b.model_dump() for b in message.content]},
                {"role": "user", "content": "Sure?"}]})
            assert heard.methods[calls:] == []
            again = up.requests[-1].json
            assert [t["name"] for t in again["tools"]] == ["clock", "add"]
            assert [b["type"] for b in again["messages"][1]["content"]] == ["tool_use"]  # no listing for Claude
            assert again["messages"][2]["content"][0]["type"] == "tool_result"

    scenario()


@async_test
async def test_a_pinned_toolset_and_a_toolset_for_no_server(tmp_path: Path) -> None:
    async with calc() as (mcp, heard), fo.FakeOpenAI(["gpt-x"]) as up, gateway(
            tmp_path, providers={"up": provider(up.url, "gpt-x")}, fetch=LOOPBACK) as (_, url):
        sdk = anthropic_client(url)
        up.script(fo.text("Fine."))
        pinned = {"type": "mcp_toolset", "mcp_server_name": "calc", "configs": {"mul": {"enabled": False}},
                  "tools": [{"name": "add", "description": "Adds.", "input_schema": {"type": "object"}},
                            {"name": "mul", "input_schema": {"type": "object"}}]}
        body: dict[str, Any] = {"model": "gpt-x", "max_tokens": 50, "betas": ["mcp-client-2025-11-20"],
                                "messages": [{"role": "user", "content": "Hi"}],
                                "mcp_servers": [{"type": "url", "url": mcp, "name": "calc"}], "tools": [pinned]}
        message = await sdk.beta.messages.create(**body)
        assert [b.type for b in message.content] == ["text"]  # pinned: nothing was listed
        assert heard.methods == []
        assert [(t["function"]["name"], t["function"]["description"]) for t in up.requests[-1].json["tools"]] == [
            ("add", "Adds.")]

        with pytest.raises(anthropic.BadRequestError) as refused:
            await sdk.beta.messages.create(**{**body, "tools": [{**pinned, "mcp_server_name": "clock"}]})
        assert refused.value.status_code == 400 and "tools[0].mcp_server_name" in refused.value.message
        assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index,call-overload]
