"""The last-resort guard, mounted alone around apps that raise."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.guard import GuardMiddleware
from tests.asgi import Recorder, call, run

SECRET = "the exception's own words, which no client may see"


async def raises_at_once(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise RuntimeError(SECRET)


async def raises_mid_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
    raise RuntimeError(SECRET)


async def raises_when_done(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"all of it"})
    raise RuntimeError(SECRET)


def test_an_unexpected_exception_is_a_500_with_a_request_id_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="interlingua"):
        out = run(call(GuardMiddleware(raises_at_once)))
    assert out.status == 500 and out.headers[b"content-type"] == b"application/json"
    error = out.json()["error"]
    request_id = out.headers[b"x-request-id"].decode()
    assert request_id.startswith("req_") and request_id in error["message"]
    assert error["type"] == "server_error" and set(error) == {"message", "type", "param", "code"}
    assert SECRET not in out.body.decode()
    (record,) = caplog.records
    assert record.name == "interlingua" and request_id in record.getMessage()
    assert record.exc_info is not None and SECRET in str(record.exc_info[1])


@pytest.mark.parametrize("path, headers, shape", [
    ("/v1/messages", [], lambda body: body["type"] == "error" and body["error"]["type"] == "api_error"),
    ("/v1beta/models/m:generateContent", [],
     lambda body: body["error"]["code"] == 500 and body["error"]["status"] == "INTERNAL"),
    ("/v1/models", [(b"anthropic-version", b"2023-06-01")], lambda body: body["type"] == "error"),
])
def test_the_500_is_in_the_client_dialect(path: str, headers: list[tuple[bytes, bytes]], shape: Any) -> None:
    method = "GET" if path == "/v1/models" else "POST"
    out = run(call(GuardMiddleware(DialectMiddleware(raises_at_once)), method, path, headers=headers))
    assert out.status == 500 and shape(out.json())


def test_a_start_the_server_refused_is_followed_by_the_500() -> None:
    async def bad_header(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-bad", b"a\nb")]})

    sent: list[dict[str, Any]] = []

    async def server(message: dict[str, Any]) -> None:  # refuses what uvicorn refuses
        if any(b"\n" in value for _, value in message.get("headers", ())):
            raise RuntimeError("Invalid HTTP header value.")
        sent.append(message)

    run(GuardMiddleware(bad_header)({"type": "http", "method": "GET", "path": "/", "headers": []}, None, server))
    assert sent[0]["status"] == 500 and sent[1]["body"].startswith(b'{"error"')


def test_a_started_answer_is_ended_not_started_again(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="interlingua"):
        out = run(call(GuardMiddleware(raises_mid_stream)))
    assert [m["type"] for m in out.messages].count("http.response.start") == 1
    assert out.status == 200 and out.body == b"data: 1\n\n"
    assert out.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert len(caplog.records) == 1


def test_a_finished_answer_gets_nothing_more(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="interlingua"):
        out = run(call(GuardMiddleware(raises_when_done)))
    assert len(out.messages) == 2 and out.body == b"all of it"
    assert len(caplog.records) == 1


def test_answers_and_other_scopes_pass_untouched() -> None:
    inner = Recorder()
    out = run(call(GuardMiddleware(inner)))
    assert (out.status, out.body) == (200, b"inner") and b"x-request-id" not in out.headers
    seen: list[str] = []

    async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    run(GuardMiddleware(lifespan)({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]
