"""Each middleware mounted alone around a tiny ASGI app."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.catalog import Catalog
from interlingua.adapters.dialects import OPENAI_CHAT
from interlingua.adapters.providers.openai import OpenAIProvider
from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.metering import MeteringMiddleware
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.prefetch import PrefetchMiddleware
from interlingua.middleware.reencode import ReencodeMiddleware
from interlingua.middleware.routing import RoutingMiddleware
from interlingua.middleware.state import (
    DIALECT,
    END,
    ERROR,
    EVENTS,
    OPERATION,
    PARAMS,
    PRINCIPAL,
    REQUEST,
    RESULT,
    TARGET,
    TARGETS,
    USAGE,
    Principal,
)
from tests.asgi import Recorder, call, run

CHAT = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


# dialect -------------------------------------------------------------------------------------------


def test_dialect_recognises_chat_and_models() -> None:
    inner = Recorder()
    app = DialectMiddleware(inner)
    run(call(app, "POST", "/v1/chat/completions"))
    run(call(app, "GET", "/v1/models"))
    run(call(app, "GET", "/v1/models/openai/gpt-5-mini"))
    states = [s["state"] for s in inner.scopes]
    assert [s[OPERATION] for s in states] == [ops.CHAT, ops.MODELS_LIST, ops.MODELS_GET]
    assert all(s[DIALECT] is OPENAI_CHAT for s in states)
    assert states[2][PARAMS] == {"model": "openai/gpt-5-mini"}


def test_dialect_passes_unknown_paths_untouched() -> None:
    inner = Recorder()
    out = run(call(DialectMiddleware(inner), "GET", "/health"))
    assert out.body == b"inner"
    assert inner.scopes[0]["state"] == {}


def test_dialect_sees_paths_below_a_mount_point() -> None:
    inner = Recorder()
    run(call(DialectMiddleware(inner), "POST", "/v1/chat/completions", root_path="/ai"))
    assert inner.scopes[0]["state"][OPERATION] is ops.CHAT


# auth ----------------------------------------------------------------------------------------------

SECRET = "sk-gateway-secret-1"
KEYS = {hashlib.sha256(SECRET.encode()).digest(): Principal("team-a", ("openai/*",))}


def test_auth_refuses_missing_and_wrong_keys_in_openai_shape() -> None:
    inner = Recorder()
    app = AuthMiddleware(inner, KEYS)
    missing = run(call(app))
    wrong = run(call(app, headers=[(b"authorization", b"Bearer sk-wrong-key")]))
    for out, word in ((missing, "missing"), (wrong, "invalid")):
        assert out.status == 401
        assert out.headers[b"www-authenticate"] == b"Bearer"
        error = out.json()["error"]
        assert word in error["message"] and error["code"] == "invalid_api_key"
        assert SECRET not in out.body.decode()
    assert inner.scopes == []


def test_auth_reads_every_dialects_credential_form() -> None:
    inner = Recorder()
    app = AuthMiddleware(inner, KEYS)
    forms: list[dict[str, Any]] = [
        {"headers": [(b"authorization", f"Bearer {SECRET}".encode())]},
        {"headers": [(b"x-api-key", SECRET.encode())]},
        {"headers": [(b"x-goog-api-key", SECRET.encode())]},
        {"query": f"alt=sse&key={SECRET}".encode()},
    ]
    for form in forms:
        assert run(call(app, **form)).status == 200
    assert [s["state"][PRINCIPAL].name for s in inner.scopes] == ["team-a"] * 4


def test_auth_without_keys_lets_everyone_in_as_the_open_principal() -> None:
    inner = Recorder()
    assert run(call(AuthMiddleware(inner), "GET", "/anything")).status == 200
    assert inner.scopes[0]["state"][PRINCIPAL].name == ""


# metering ------------------------------------------------------------------------------------------


class ListLedger:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def record(self, rec: Any) -> None:
        self.records.append(rec)


def test_metering_records_status_timing_and_usage_from_state() -> None:
    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"][USAGE] = ir.Usage(input_tokens=10, output_tokens=4, cache_read_tokens=3, reasoning_tokens=2)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    ledger = ListLedger()
    state = {PRINCIPAL: Principal("team-a"), OPERATION: ops.CHAT}
    run(call(MeteringMiddleware(inner, ledger), state=state))
    (rec,) = ledger.records
    assert (rec.key, rec.status, rec.input_tokens, rec.cached_tokens, rec.output_tokens, rec.reasoning_tokens) == (
        "team-a", 200, 10, 3, 4, 2)
    assert rec.ttfb_ms is not None and 0 <= rec.ttfb_ms <= rec.total_ms


def test_metering_skips_model_listing() -> None:
    ledger = ListLedger()
    run(call(MeteringMiddleware(Recorder(), ledger), "GET", "/v1/models", state={OPERATION: ops.MODELS_LIST}))
    assert ledger.records == []


# normalisation -------------------------------------------------------------------------------------


def _chat_state() -> dict[str, Any]:
    return {DIALECT: OPENAI_CHAT, OPERATION: ops.CHAT}


def test_normalisation_parses_into_the_ir() -> None:
    inner = Recorder()
    run(call(NormalisationMiddleware(inner), body=[CHAT[:10], CHAT[10:]], state=_chat_state()))
    request = inner.scopes[0]["state"][REQUEST]
    assert isinstance(request, ir.ChatRequest)
    assert request.model == "m" and request.messages[0].parts == [ir.Text("hi")]


def test_normalisation_refuses_oversized_bodies_before_reading_them_whole() -> None:
    inner = Recorder()
    app = NormalisationMiddleware(inner, max_body_bytes=100)
    declared = run(call(app, body=b"x" * 10, headers=[(b"content-length", b"5000")], state=_chat_state()))
    endless = run(call(app, body=b"x" * 10, headers=[(b"content-length", b"9" * 5000)], state=_chat_state()))
    streamed = run(call(app, body=[b"x" * 60, b"x" * 60, b"never read"], state=_chat_state()))
    assert declared.status == endless.status == streamed.status == 413
    assert "limit of 100 bytes" in streamed.json()["error"]["message"]
    assert inner.scopes == []


def test_normalisation_names_the_bad_field() -> None:
    app = NormalisationMiddleware(Recorder())
    bad_json = run(call(app, body=b'{"model": ', state=_chat_state()))
    bad_field = run(call(app, body=CHAT[:-1] + b', "temperature": "hot"}', state=_chat_state()))
    assert bad_json.status == bad_field.status == 400
    assert "not valid JSON" in bad_json.json()["error"]["message"]
    assert bad_field.json()["error"]["param"] == "temperature"


def test_normalisation_leaves_the_messages_to_their_first_reader_with_the_bytes_they_came_in() -> None:
    inner = Recorder()
    body = b'{"model": "m", "messages": [{"role": "user", "content": 5}]}'
    response = run(call(NormalisationMiddleware(inner), body=[body[:9], body[9:]], state=_chat_state()))
    request = inner.scopes[0]["state"][REQUEST]
    assert response.status == 200 and request.raw == body and not request.decoded
    with pytest.raises(ir.GatewayError) as refused:
        request.messages  # noqa: B018
    assert (refused.value.status, refused.value.param) == (400, "messages[0].content")


# routing -------------------------------------------------------------------------------------------


def _catalog() -> Catalog:
    providers = {"openai": OpenAIProvider("openai", "http://127.0.0.1:9/v1", models=("gpt-5-mini",)),
                 "local": OpenAIProvider("local", "http://127.0.0.1:9/v1")}
    return Catalog(providers, {"fast": ["local/llama", "openai/gpt-5-mini"]})


def _routed(model: str, principal: Principal | None = None) -> tuple[Any, Recorder]:
    inner = Recorder()
    state = {DIALECT: OPENAI_CHAT, REQUEST: ir.ChatRequest(model, [], "openai")}
    if principal:
        state[PRINCIPAL] = principal
    return run(call(RoutingMiddleware(inner, _catalog()), state=state)), inner


def test_routing_resolves_aliases_bare_names_and_provider_ids() -> None:
    for model, labels in (("fast", ["local/llama", "openai/gpt-5-mini"]), ("gpt-5-mini", ["openai/gpt-5-mini"]),
                          ("local/qwen3", ["local/qwen3"])):
        out, inner = _routed(model)
        assert out.status == 200
        assert [t.label for t in inner.scopes[0]["state"][TARGETS]] == labels


def test_routing_unknown_model_is_404_and_forbidden_model_403() -> None:
    unknown, _ = _routed("nope")
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "model_not_found"
    limited = Principal("k", ("openai/*",))
    assert _routed("gpt-5-mini", limited)[0].status == 200
    forbidden, inner = _routed("fast", limited)
    assert forbidden.status == 403 and forbidden.json()["error"]["param"] == "model"
    assert inner.scopes == []


def test_routing_refuses_a_model_name_that_cannot_go_into_a_url_or_header() -> None:
    refused, inner = _routed("local/qwen3\r\nx-injected: 1")
    assert refused.status == 400 and refused.json()["error"]["param"] == "model" and inner.scopes == []


# re-encoding ---------------------------------------------------------------------------------------


def _emitting(*messages: dict[str, Any]) -> Any:
    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)
    return inner


def _request(**kw: Any) -> dict[str, Any]:
    return {DIALECT: OPENAI_CHAT, REQUEST: ir.ChatRequest("m", [], "openai", **kw)}


def test_reencode_renders_a_result_as_json() -> None:
    result = ir.ChatResponse("r1", "m", 1, [ir.Choice(0, ir.Message("assistant", [ir.Text("hi")]), "stop")],
                             ir.Usage(5, 1))
    out = run(call(ReencodeMiddleware(_emitting({"type": RESULT, "result": result})), state=_request()))
    body = out.json()
    assert out.status == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "hi" and body["usage"]["total_tokens"] == 6


def test_reencode_renders_events_as_sse_with_usage_only_when_asked() -> None:
    events = [ir.StreamStart("r1", "m", 1), ir.TextDelta("Hel"), ir.TextDelta("lo"), ir.Finish("stop"),
              ir.UsageReport(ir.Usage(5, 2))]
    app = ReencodeMiddleware(_emitting({"type": EVENTS, "events": events[:2]}, {"type": EVENTS, "events": events[2:]},
                                       {"type": END}))
    plain = run(call(app, state=_request(stream=True)))
    with_usage = run(call(app, state=_request(stream=True, stream_usage=True)))
    assert plain.headers[b"content-type"] == b"text/event-stream"
    assert plain.body.endswith(b"data: [DONE]\n\n") and b'"usage"' not in plain.body
    assert b'"choices":[],"usage":{"prompt_tokens":5' in with_usage.body
    assert plain.body.count(b'"role":"assistant"') == 1


def test_reencode_renders_errors_before_and_after_the_first_byte() -> None:
    error = ir.GatewayError("upstream", "upstream broke")
    before = run(call(ReencodeMiddleware(_emitting({"type": ERROR, "error": error})), state=_request()))
    assert before.status == 502 and before.json()["error"]["message"] == "upstream broke"
    after = run(call(ReencodeMiddleware(_emitting(
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True},
        {"type": ERROR, "error": error})), state=_request(stream=True)))
    assert after.status == 200
    assert after.body == (b'data: {}\n\ndata: {"error":{"message":"upstream broke","type":"server_error",'
                          b'"param":null,"code":null}}\n\n')
    assert after.messages[-1].get("more_body", False) is False


def test_reencode_passes_plain_http_messages_untouched() -> None:
    messages = ({"type": "http.response.start", "status": 201, "headers": [(b"x", b"y")]},
                {"type": "http.response.body", "body": b"raw"})
    out = run(call(ReencodeMiddleware(_emitting(*messages)), state=_request()))
    assert out.messages == list(messages)
    assert TARGET not in out.scope["state"]


# responses state -----------------------------------------------------------------------------------


def test_responses_state_expands_history_records_answers_and_serves_the_store(tmp_path: Any) -> None:
    from interlingua.adapters.dialects import OPENAI_RESPONSES
    from interlingua.adapters.storage.responses import ResponseStore
    from interlingua.middleware.responses_state import ResponsesStateMiddleware

    store = ResponseStore(tmp_path / "responses.sqlite3")
    earlier = {"id": "resp_1", "object": "response", "output": [
        {"type": "message", "id": "msg_o", "role": "assistant", "content": [{"type": "output_text", "text": "Paris"}]}]}
    store.put(None, earlier, [{"type": "message", "role": "user", "content": "Capital?", "id": "msg_i"}], None)
    answer = {"id": "resp_2", "object": "response", "output": []}
    seen: list[Any] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["state"][REQUEST])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})

    app = ResponsesStateMiddleware(inner, store)
    body = {"model": "m", "input": "Population?", "previous_response_id": "resp_1"}
    request = OPENAI_RESPONSES.decode_request(ops.CHAT, body, {}, {})
    out = run(call(app, "POST", "/v1/responses", state={DIALECT: OPENAI_RESPONSES, OPERATION: ops.CHAT,
                                                        REQUEST: request}))
    assert out.status == 200
    assert [m.role for m in seen[0].messages] == ["user", "assistant", "user"]
    said = answer | {"store": True, "previous_response_id": "resp_1"}  # what the layer did, in what the client reads
    assert out.json() == said and run(store.get(None, "resp_2")) == said
    assert run(store.history(None, "resp_2"))[0]["id"] == "msg_i"
    got = run(call(app, "GET", "/v1/responses/resp_1", state={DIALECT: OPENAI_RESPONSES, OPERATION: ops.RESPONSES_GET,
                                                              PARAMS: {"id": "resp_1"}}))
    assert got.json() == earlier
    missing = run(call(app, "POST", "/v1/responses", state={
        DIALECT: OPENAI_RESPONSES, OPERATION: ops.CHAT,
        REQUEST: OPENAI_RESPONSES.decode_request(ops.CHAT, {**body, "previous_response_id": "resp_x"}, {}, {})}))
    assert missing.status == 404 and missing.json()["error"]["param"] == "previous_response_id"
    store.close()


# prefetch ------------------------------------------------------------------------------------------


class _Store:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def prefetch(self, call_ids: list[str]) -> None:
        self.asked.append(call_ids)


def test_prefetch_asks_for_a_chat_conversations_tool_calls_and_refuses_what_does_not_decode() -> None:
    store, inner = _Store(), Recorder()
    app = NormalisationMiddleware(PrefetchMiddleware(inner, store))
    call_turn = {"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    good = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}, call_turn,
                                                    {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]})
    assert run(call(app, body=good, state=_chat_state())).status == 200
    bad = run(call(app, body=b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', state=_chat_state()))
    assert bad.status == 400 and bad.json()["error"]["param"] == "messages[0].content"
    assert store.asked == [["call_1"]] and len(inner.scopes) == 1
