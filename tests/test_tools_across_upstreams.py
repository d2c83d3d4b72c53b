"""Codex's tools through every upstream kind, with the official SDKs as clients over real sockets.

Why: Codex declares a freeform `apply_patch` (a `custom` tool), a client-run `tool_search` and a
hosted `web_search`; it aborts when a call comes back in another item type, and an upstream
refuses a tool it cannot read. Each test runs Codex's real first request (tests/fixtures/clients)
through the `openai` SDK's Responses client, round the whole loop (the call, then its output, then
the final text), and checks what the client receives as well as what the upstream was sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects import tools
from interlingua.adapters.dialects.anthropic import decode_messages_response
from interlingua.adapters.dialects.gemini import decode_generate_response
from interlingua.adapters.dialects.openai_responses_request import decode_responses_request
from interlingua.adapters.dialects.openai_responses_response import encode_responses_response
from interlingua.adapters.dialects.tools import FREEFORM_PARAMETERS
from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_client, anthropic_provider, client, gateway, gemini_provider, provider
from tests.test_client_fixtures import load

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
UPSTREAMS = ("chat", "anthropic", "gemini")
OMITTED = "x-interlingua-omitted-tools"


def codex_request() -> dict[str, Any]:
    """Codex's first request body as the SDK is to send it (model and stream set by each test)."""
    body = dict(load("codex.first-request.json")["body"])
    for key in ("model", "stream"):
        body.pop(key)
    body["extra_body"] = {"client_metadata": body.pop("client_metadata")}  # newer than this SDK
    return body


def _fake(kind: str) -> Any:
    return {"chat": fo.FakeOpenAI, "anthropic": fa.FakeAnthropic, "gemini": fg.FakeGemini}[kind]()


def _provider(kind: str, url: str) -> dict[str, Any]:
    return {"chat": provider, "anthropic": anthropic_provider, "gemini": gemini_provider}[kind](url, "up-model")


def _script(kind: str, fake: Any, name: str, text: str, args: dict[str, Any] | None = None) -> None:
    """The upstream's two answers: a call of `name` (freeform `text`, or JSON `args`), then DONE."""
    wrapped = args if args is not None else {"input": text}
    if kind == "chat":
        made = (fo.custom_call(name, text[:10], text[10:], id="call_1") if args is None
                else fo.call(name, orjson.dumps(args).decode(), id="call_1"))
        fake.script(fo.tool_calls(made), fo.text("DONE"))
    elif kind == "anthropic":
        raw = orjson.dumps(wrapped).decode()
        fake.script(fa.reply(fa.thinking("I will call it."), fa.call(name, raw[:12], raw[12:], id="toolu_1")),
                    fa.text("DONE"))
    else:
        fake.script(fg.function_calls(fg.call(name, wrapped, id="call0001")), fg.text("DONE"))


async def _create(sdk: Any, body: dict[str, Any], stream: bool,
                  model: str = "codex") -> tuple[Any, dict[str, str], list[str]]:
    """One Responses call: the final Response, the answer's headers and the stream's event types."""
    raw = await sdk.responses.with_raw_response.create(model=model, stream=stream, **body)
    headers = dict(raw.headers)
    if not stream:
        return raw.parse(), headers, []
    kinds: list[str] = []
    final = None
    async for event in raw.parse():
        kinds.append(event.type)
        if event.type == "response.completed":
            final = event.response
    return final, headers, kinds


def _declared(kind: str, sent: dict[str, Any]) -> dict[str, Any]:
    """The tools an upstream request declared, by name (hosted ones by their type or key)."""
    if kind == "chat":
        return {t[t["type"]]["name"]: t for t in sent["tools"]}
    if kind == "anthropic":
        return {t["name"] if "input_schema" in t else t["type"]: t for t in sent["tools"]}
    found: dict[str, Any] = {}
    for tool in sent["tools"]:
        for decl in tool.get("functionDeclarations") or ():
            found[decl["name"]] = decl
        found.update({key: tool for key in tool if key != "functionDeclarations"})
    return found


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("kind", UPSTREAMS)
def test_codex_apply_patch_loop(tmp_path: Path, kind: str, stream: bool) -> None:
    """The freeform apply_patch call reaches Codex as a custom_tool_call with the raw patch, and
    its custom_tool_call_output goes back paired with the call; DONE ends the loop."""

    async def scenario() -> None:
        async with _fake(kind) as up, gateway(tmp_path, providers={"up": _provider(kind, up.url)},
                                               models={"codex": {"targets": ["up/up-model"]}}) as (_, url):
            _script(kind, up, "apply_patch", PATCH)
            sdk = client(url)
            body = codex_request()
            first, headers, kinds = await _create(sdk, body, stream)
            calls = [item for item in first.output if item.type != "reasoning"]
            assert [(c.type, c.name, c.input) for c in calls] == [("custom_tool_call", "apply_patch", PATCH)]
            if stream:
                assert "response.custom_tool_call_input.delta" in kinds
                assert "response.custom_tool_call_input.done" in kinds
                assert "response.function_call_arguments.delta" not in kinds
            assert headers.get(OMITTED) == ("web_search" if kind == "chat" else None)
            declared = _declared(kind, up.requests[0].json)
            assert "tool_search" in declared and "exec_command" in declared
            if kind == "chat":
                assert declared["apply_patch"]["type"] == "custom" and "web_search" not in declared
            elif kind == "anthropic":
                assert declared["apply_patch"]["input_schema"] == FREEFORM_PARAMETERS
                assert declared["web_search_20250305"] == {"type": "web_search_20250305", "name": "web_search"}
            else:
                assert declared["apply_patch"]["parameters"]["properties"]["input"]["type"] == "STRING"
                assert declared["googleSearch"] == {"googleSearch": {}}
            call = calls[0]
            body["input"] = [*body["input"], *(item.model_dump(exclude_none=True) for item in first.output),
                             {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"}]
            final, _, _ = await _create(sdk, body, stream)
            assert final.output_text == "DONE"
            _assert_paired(kind, up.requests[1].json, call.call_id)

    run(scenario())


def _assert_paired(kind: str, sent: dict[str, Any], call_id: str) -> None:
    """The second upstream request holds the call, in the upstream's own form, and its result."""
    if kind == "chat":
        assistant, result = sent["messages"][-2:]
        assert assistant["tool_calls"][0]["custom"] == {"name": "apply_patch", "input": PATCH}
        assert (result["role"], result["tool_call_id"], result["content"]) == ("tool", call_id, "Done!")
    elif kind == "anthropic":
        assistant, user = sent["messages"][-2:]
        use = next(b for b in assistant["content"] if b["type"] == "tool_use")
        assert (use["name"], use["input"]) == ("apply_patch", {"input": PATCH})
        assert user["content"][0]["type"] == "tool_result" and user["content"][0]["tool_use_id"] == use["id"]
    else:
        model, user = sent["contents"][-2:]
        fc = next(p["functionCall"] for p in model["parts"] if "functionCall" in p)
        assert (fc["name"], fc["args"]) == ("apply_patch", {"input": PATCH})
        assert user["parts"][0]["functionResponse"]["name"] == "apply_patch"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("kind", UPSTREAMS)
def test_codex_tool_search_loop(tmp_path: Path, kind: str, stream: bool) -> None:
    """Codex's client-run tool_search is a function upstream; its call comes back as a
    tool_search_call (arguments an object) and its tool_search_output goes back as the result."""

    async def scenario() -> None:
        async with _fake(kind) as up, gateway(tmp_path, providers={"up": _provider(kind, up.url)},
                                               models={"codex": {"targets": ["up/up-model"]}}) as (_, url):
            _script(kind, up, "tool_search", "", {"query": "calendar"})
            sdk = client(url)
            body = codex_request()
            first, _, _ = await _create(sdk, body, stream)
            calls = [item for item in first.output if item.type != "reasoning"]
            assert [(c.type, c.execution, c.arguments) for c in calls] == [
                ("tool_search_call", "client", {"query": "calendar"})]
            body["input"] = [*body["input"], *(item.model_dump(exclude_none=True) for item in first.output),
                             {"type": "tool_search_output", "call_id": calls[0].call_id, "execution": "client",
                              "tools": []}]
            final, _, _ = await _create(sdk, body, stream)
            assert final.output_text == "DONE"
            assert "[]" in orjson.dumps(up.requests[1].json).decode()

    run(scenario())


def test_anthropic_web_search_goes_to_a_responses_upstream_as_web_search(tmp_path: Path) -> None:
    """An Anthropic client's hosted web search becomes Responses' web_search, not a refusal."""

    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(
                tmp_path, providers={"up": provider(up.url, "up-model", api="responses")},
                models={"claude": {"targets": ["up/up-model"]}}) as (_, url):
            up.script(fr.text("Sunny."))
            answer = await anthropic_client(url).messages.with_raw_response.create(
                model="claude", max_tokens=100, messages=[{"role": "user", "content": "Weather?"}],
                tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}])
            assert (await answer.parse()).content[0].text == "Sunny."  # type: ignore[union-attr]
            assert answer.headers.get(OMITTED) is None
            assert up.requests[0].json["tools"] == [{"type": "web_search"}]

    run(scenario())


def test_anthropic_web_search_is_left_out_for_a_chat_upstream(tmp_path: Path) -> None:
    """Chat Completions has no hosted web search: the tool is left out and the header says so."""

    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "up-model")},
                                                  models={"claude": {"targets": ["up/up-model"]}}) as (_, url):
            up.script(fo.text("Sunny."))
            answer = await anthropic_client(url).messages.with_raw_response.create(
                model="claude", max_tokens=100, messages=[{"role": "user", "content": "Weather?"}],
                tools=[{"type": "web_search_20250305", "name": "web_search"}])
            assert (await answer.parse()).content[0].text == "Sunny."  # type: ignore[union-attr]
            assert answer.headers.get(OMITTED) == "web_search_20250305"
            assert "tools" not in up.requests[0].json

    run(scenario())


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_chat_client_custom_tool_loop(tmp_path: Path, kind: str, stream: bool) -> None:
    """A Chat client's custom tool: its call comes back as `type: custom` with `custom.input` the
    raw text, and the tool message answering it goes upstream paired with the call."""

    async def scenario() -> None:
        async with _fake(kind) as up, gateway(tmp_path, providers={"up": _provider(kind, up.url)},
                                               models={"m": {"targets": ["up/up-model"]}}) as (_, url):
            _script(kind, up, "apply_patch", PATCH)
            sdk = client(url)
            messages: list[Any] = [{"role": "user", "content": "Add hello.txt"}]
            tools: Any = [{"type": "custom", "custom": {"name": "apply_patch", "description": "Edit files"}}]
            if stream:
                pieces: list[str] = []
                call_id = ""
                async for chunk in await sdk.chat.completions.create(model="m", messages=messages, tools=tools,
                                                                     stream=True):
                    for delta in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
                        dumped = delta.model_dump()
                        assert dumped.get("type") in (None, "custom"), dumped
                        call_id = dumped.get("id") or call_id
                        pieces.append(((dumped.get("custom") or {}).get("input")) or "")
                call = {"id": call_id, "type": "custom", "custom": {"name": "apply_patch", "input": "".join(pieces)}}
            else:
                answer = await sdk.chat.completions.create(model="m", messages=messages, tools=tools)
                call = answer.choices[0].message.tool_calls[0].model_dump()  # type: ignore[index]
            assert call["type"] == "custom" and call["custom"]["input"] == PATCH
            messages += [{"role": "assistant", "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": call["id"], "content": "Done!"}]
            final = await sdk.chat.completions.create(model="m", messages=messages, tools=tools)
            assert final.choices[0].message.content == "DONE"
            _assert_paired(kind, up.requests[1].json, call["id"])

    run(scenario())


def _as_responses(response: Any) -> Any:
    """An IR answer as a Responses client reads it: the SDK's own model of the JSON."""
    return openai.types.responses.Response.model_validate(encode_responses_response(response, None))


def test_anthropic_web_search_answer_reaches_a_responses_client_as_a_search_and_citations() -> None:
    """Anthropic's server_tool_use, web_search_tool_result and cited text become a web_search_call
    (query and sources) and an output_text with url_citation annotations."""
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 5},
            "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "oslo"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
                    {"type": "web_search_result", "url": "https://yr.no/oslo", "title": "Yr",
                     "encrypted_content": "e"}]},
                {"type": "text", "text": "It is cold.", "citations": [
                    {"type": "web_search_result_location", "url": "https://yr.no/oslo", "title": "Yr",
                     "cited_text": "cold", "encrypted_index": "x"},
                    {"type": "search_result_location", "source": "https://met.no/oslo", "title": "Met",
                     "cited_text": "cold", "search_result_index": 0, "start_block_index": 0, "end_block_index": 0},
                    {"type": "search_result_location", "source": "internal-kb-17", "title": "KB",
                     "cited_text": "cold", "search_result_index": 1, "start_block_index": 0, "end_block_index": 0}]}]}
    answer = _as_responses(decode_messages_response(body))
    search, message = answer.output
    assert search.type == "web_search_call" and search.action.query == "oslo"
    assert [s.url for s in search.action.sources] == ["https://yr.no/oslo"]
    annotations = [(a.type, a.url, a.title, a.end_index) for a in message.content[0].annotations]
    assert annotations == [("url_citation", "https://yr.no/oslo", "Yr", len("It is cold.")),
                           ("url_citation", "https://met.no/oslo", "Met", len("It is cold."))]  # a URL only
    assert answer.output_text == "It is cold."


def test_gemini_grounding_reaches_a_responses_client_as_a_search_and_citations() -> None:
    """Gemini's groundingMetadata becomes a web_search_call and url_citation annotations, its
    byte offsets counted again in characters."""
    text = "Ærlig talt: kaldt."
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
                            "groundingMetadata": {
                                "webSearchQueries": ["oslo weather"],
                                "groundingChunks": [{"web": {"uri": "https://yr.no/oslo", "title": "yr.no"}}],
                                "groundingSupports": [{"segment": {"startIndex": len("Ærlig talt: ".encode()),
                                                                   "endIndex": len(text.encode())},
                                                       "groundingChunkIndices": [0]}]}}]}
    answer = _as_responses(decode_generate_response(body))
    search, message = answer.output
    assert search.type == "web_search_call" and search.action.queries == ["oslo weather"]
    annotation = message.content[0].annotations[0]
    assert (annotation.url, annotation.start_index, annotation.end_index) == (
        "https://yr.no/oslo", len("Ærlig talt: "), len(text))


WEB_SEARCHES = {"responses": ir.Tool("web_search", kind="server", extra={"responses": {"type": "web_search"}}),
                "anthropic": ir.Tool("web_search", kind="server",
                                     extra={"type": "web_search_20250305", "name": "web_search"}),
                "gemini": ir.Tool("googleSearch", kind="server", extra={"gemini": {"googleSearch": {}}})}


@pytest.mark.parametrize("source", sorted(WEB_SEARCHES))
@pytest.mark.parametrize("target", [*sorted(WEB_SEARCHES), "openai"])
def test_web_search_maps_between_every_pair(source: str, target: str) -> None:
    """Each dialect's hosted web search becomes the target's own, or is left out on Chat."""
    kept, left_out = tools.adapt_tools([WEB_SEARCHES[source]], source, target)
    if target == "openai":
        assert (kept, left_out) == ([], [tools.wire_type(WEB_SEARCHES[source])])
    else:
        assert left_out == [] and tools.hosted_kind(kept[0]) == "web_search"
        assert tools.wire_type(kept[0]) == tools.wire_type(WEB_SEARCHES[target])


def test_hosted_tools_without_equivalent_are_named_once_in_the_header() -> None:
    """A Responses client's file_search and image_generation on Anthropic: left out and named;
    its web_search and tool_search kept (as the server tool and a function)."""
    req = decode_responses_request({"model": "m", "input": "hi", "tools": [
        {"type": "file_search", "vector_store_ids": ["vs_1"]}, {"type": "image_generation"},
        {"type": "web_search"}, {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}},
        {"type": "file_search", "vector_store_ids": ["vs_2"]}]})
    assert tools.omitted_headers(req, "anthropic") == [(b"x-interlingua-omitted-tools",
                                                        b"file_search,image_generation")]
    adapted = tools.adapt_request(req, "anthropic").tools or []
    assert [(t.name, t.kind) for t in adapted] == [("web_search", "server"), ("tool_search", "function")]
    assert tools.omitted_headers(req, "responses") == []


CLIENT_RUN = {  # tool declared, the model's arguments, the call item's field and value, the output item
    "local_shell": ({"type": "local_shell"}, {"command": ["ls"]}, "action",
                    {"type": "exec", "command": ["ls"], "env": {}},
                    lambda call: {"type": "local_shell_call_output", "id": call.call_id, "output": "a.txt"}),
    "shell": ({"type": "shell", "environment": {"type": "local"}}, {"commands": ["ls"]}, "action",
              {"commands": ["ls"]},
              lambda call: {"type": "shell_call_output", "call_id": call.call_id, "output": [
                  {"stdout": "a.txt", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]}),
    "apply_patch": ({"type": "apply_patch"}, {"type": "create_file", "path": "a.txt", "diff": "+hi"}, "operation",
                    {"type": "create_file", "path": "a.txt", "diff": "+hi"},
                    lambda call: {"type": "apply_patch_call_output", "call_id": call.call_id, "status": "completed",
                                  "output": "a.txt"}),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("tool", sorted(CLIENT_RUN))
@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_client_run_responses_tool_types_loop(tmp_path: Path, kind: str, tool: str, stream: bool) -> None:
    """local_shell, shell (local) and apply_patch tools go upstream as functions named by their
    type; the call comes back as the type's own item, and its output item goes back as the result."""
    declared, arguments, field, value, output = CLIENT_RUN[tool]

    async def scenario() -> None:
        async with _fake(kind) as up, gateway(tmp_path, providers={"up": _provider(kind, up.url)},
                                               models={"m": {"targets": ["up/up-model"]}}) as (_, url):
            _script(kind, up, tool, "", arguments)
            sdk = client(url)
            body: dict[str, Any] = {"input": [{"role": "user", "content": "go"}], "tools": [declared]}
            first, headers, _ = await _create(sdk, body, stream, model="m")
            assert headers.get(OMITTED) is None
            assert tool in _declared(kind, up.requests[0].json)
            calls = [item for item in first.output if item.type != "reasoning"]
            assert [c.type for c in calls] == [f"{tool}_call"]
            assert getattr(calls[0], field).model_dump(exclude_none=True) == value
            body["input"] = [*body["input"], *(item.model_dump(exclude_none=True) for item in first.output),
                             output(calls[0])]
            final = await sdk.responses.create(model="m", **body)
            assert final.output_text == "DONE"
            assert "a.txt" in orjson.dumps(up.requests[1].json).decode()

    run(scenario())
