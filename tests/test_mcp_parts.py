"""The MCP proxy's parts alone: JSON-RPC peeking, answers read on the way, key-bound session ids,
and the CORS and MCP layers each mounted around a tiny app."""

from __future__ import annotations

import orjson
import pytest

from interlingua.adapters.dialects.mcp import CODEC as MCP
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.servers import McpServer
from interlingua.adapters.mcp.sessions import SessionSeal
from interlingua.adapters.mcp.stream import Tap, filter_tools
from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.cors import CorsMiddleware
from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.mcp import McpMiddleware
from interlingua.middleware.state import Principal
from tests.asgi import Recorder, call, run
from tests.support import pieces

TOOLS = orjson.dumps({"jsonrpc": "2.0", "id": 3, "result": {"tools": [{"name": "add"}, {"name": "rm"}]}})


def test_parse_reads_method_id_and_tool() -> None:
    body = jsonrpc.parse(b'{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"add","arguments":{}}}')
    assert (body.method, body.tool, [m.id for m in body.requests], body.batch) == ("tools/call", "add", ["a"], False)
    batch = jsonrpc.parse(b'[{"jsonrpc":"2.0","method":"notifications/initialized"},'
                          b'{"jsonrpc":"2.0","id":1,"result":{}}]')
    assert batch.batch and batch.requests == [] and batch.method is None


@pytest.mark.parametrize(("raw", "code"), [
    (b"{", jsonrpc.PARSE_ERROR), (b"[]", jsonrpc.INVALID_REQUEST), (b'{"id":1,"method":"x"}', jsonrpc.INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":true,"method":"x"}', jsonrpc.INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":1,"method":"x","params":3}', jsonrpc.INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', jsonrpc.INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}', jsonrpc.INVALID_PARAMS),
])
def test_parse_refuses_what_is_not_json_rpc(raw: bytes, code: int) -> None:
    with pytest.raises(GatewayError) as caught:
        jsonrpc.parse(raw)
    assert orjson.loads(MCP.encode_error(caught.value))["error"]["code"] == code
    assert caught.value.status == 400


def test_filter_tools_and_leaves_the_rest() -> None:
    assert orjson.loads(filter_tools(TOOLS, ["add"]))["result"]["tools"] == [{"name": "add"}]
    other = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"text":"tools"}]}}'
    assert filter_tools(other, ["add"]) is other
    odd = b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":["add"]},{"name":7},{"name":"add"}]}}'
    assert orjson.loads(filter_tools(odd, ["add"]))["result"]["tools"] == [{"name": "add"}]  # a server's odd names


def test_tap_filters_sse_events_in_any_chunking_and_keeps_their_ids() -> None:
    stream = (b"id: 7\nevent: message\ndata: " + TOOLS + b"\n\n"
              b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n")
    for sizes in ([1], [5, 40], [len(stream)]):
        tap = Tap(True, ("add",), False)
        out = b"".join(tap.feed(p) for p in pieces(stream, sizes)) + tap.close()
        first, second = out.split(b"\n\n")[:2]
        assert first.startswith(b"id: 7\nevent: message\ndata: ")
        assert orjson.loads(first.split(b"data: ")[1])["result"]["tools"] == [{"name": "add"}]
        assert second == b'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}'


def test_tap_notes_a_tool_calls_outcome() -> None:
    tap = Tap(False, None, True)
    body = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}'
    assert tap.feed(body[:10]) + tap.feed(body[10:]) + tap.close() == body
    assert tap.outcome == -32601
    ok = Tap(True, None, True)
    ok.feed(b'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{"isError":false}}\n\n')
    assert ok.outcome == 0


def test_session_ids_are_bound_to_key_and_server() -> None:
    seal = SessionSeal(b"a secret of the gateway")
    issued = seal.wrap("team-a", "docs", "upstream-123")
    assert issued.startswith("upstream-123.") and issued.isprintable() and " " not in issued
    assert seal.unwrap("team-a", "docs", issued) == "upstream-123"
    assert seal.unwrap("team-b", "docs", issued) is None
    assert seal.unwrap("team-a", "files", issued) is None
    assert seal.unwrap("team-a", "docs", "upstream-124" + issued[len("upstream-123"):]) is None
    assert SessionSeal(b"another secret").unwrap("team-a", "docs", issued) is None


def test_cors_alone() -> None:
    inner = Recorder()
    app = CorsMiddleware(inner, ["https://inspector.example"])
    pre = run(call(app, "OPTIONS", "/v1/mcp/x", headers=[
        (b"origin", b"https://inspector.example"), (b"access-control-request-method", b"POST"),
        (b"access-control-request-headers", b"authorization, mcp-session-id")]))
    assert pre.status == 204 and inner.scopes == []
    assert pre.headers[b"access-control-allow-headers"] == b"authorization, mcp-session-id"
    marked = run(call(app, "POST", "/v1/mcp/x", headers=[(b"origin", b"https://inspector.example")]))
    assert marked.headers[b"access-control-allow-origin"] == b"https://inspector.example"
    assert b"Mcp-Session-Id" in marked.headers[b"access-control-expose-headers"]
    other = run(call(app, "POST", "/v1/mcp/x", headers=[(b"origin", b"https://elsewhere.example")]))
    assert b"access-control-allow-origin" not in other.headers


def test_mcp_layer_mounted_alone() -> None:
    """Dialect (MCP only), auth and the MCP layer in front of someone else's app."""
    inner = Recorder()
    servers = {"docs": McpServer("docs", "streamable-http", url="http://127.0.0.1:9/mcp")}
    keys = {bytes(32): Principal("x")}  # no presented key hashes to this: every MCP caller is refused
    app = DialectMiddleware(AuthMiddleware(McpMiddleware(inner, servers, b"secret"), keys), [MCP])
    refused = run(call(app, "POST", "/v1/mcp/docs", body=b"{}"))
    assert refused.status == 401 and refused.json()["error"]["code"] == jsonrpc.SERVER_ERROR
    open_app = DialectMiddleware(McpMiddleware(inner, servers, b"secret"), [MCP])
    unknown = run(call(open_app, "POST", "/v1/mcp/nope", body=b"{}"))
    assert unknown.status == 404 and unknown.json()["jsonrpc"] == "2.0"
    listed = run(call(open_app, "GET", "/v1/mcp"))
    assert listed.json()["data"] == [{"id": "docs", "transport": "streamable-http", "url": "/v1/mcp/docs"}]
    passed = run(call(open_app, "POST", "/v1/chat/completions", body=b"{}"))
    assert passed.body == b"inner" and len(inner.scopes) == 1
    down = run(call(open_app, "POST", "/v1/mcp/docs", body=b'{"jsonrpc":"2.0","id":1,"method":"ping"}'))
    assert down.status == 503 and "refused" in down.json()["error"]["message"]
