"""The utility forms `/v1/render` and `/v1/transcribe`, driven with httpx (they are plain forms, with
no SDK) through the gateway to the fake upstreams, which record what they received."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlingua.adapters.dialects.utility import output_format
from tests.asgi import run
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.harness import gateway, gemini_provider, provider

WAV = b"RIFF\x24\x00\x01\x00WAVEfmt " + os.urandom(5_000)
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3_000)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(2_000)
GEMINI_IMAGE = "gemini-2.5-flash-image"


def _providers(openai_up: fo.FakeOpenAI, gemini_up: fg.FakeGemini) -> dict[str, Any]:
    return {"up": provider(openai_up.url, "gpt-image-1", "dall-e-3", "whisper-1", "gpt-x"),
            "g": gemini_provider(gemini_up.url, GEMINI_IMAGE)}


def _fields(recorded: fo.RecordedRequest) -> dict[str, str]:
    return {p.name: p.text for p in fo.form(recorded) if p.filename is None}


def test_render_answers_the_image_itself_from_an_openai_compatible_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, fg.FakeGemini() as gem, gateway(
                tmp_path, providers=_providers(up, gem)) as (_, url), httpx.AsyncClient(base_url=url) as http:
            png = await http.post("/v1/render", data={"model": "gpt-image-1", "prompt": "a lighthouse"})
            assert (png.status_code, png.headers["content-type"]) == (200, "image/png")
            assert png.content == fo.FAKE_PNG_HEAD + b"a lighthouse|0"
            # gpt-image answers base64 by itself and refuses `response_format`; PNG needs no `output_format`
            assert up.requests[-1].json == {"model": "gpt-image-1", "prompt": "a lighthouse"}
            jpeg = await http.post("/v1/render", data={"model": "gpt-image-1", "input": "a cat"},
                                   headers={"accept": "image/png;q=0.5, image/jpeg"})
            assert jpeg.headers["content-type"] == "image/jpeg"
            assert jpeg.content == fo.FAKE_IMAGE_HEADS["jpeg"] + b"a cat|0"
            assert up.requests[-1].json == {"model": "gpt-image-1", "prompt": "a cat", "output_format": "jpeg"}
            dalle = await http.post("/v1/render", data={"model": "dall-e-3", "prompt": "a dog"},
                                    headers={"accept": "image/jpeg"})
            assert dalle.headers["content-type"] == "image/png"  # dall-e makes PNGs only, and says so
            assert up.requests[-1].json == {"model": "dall-e-3", "prompt": "a dog", "response_format": "b64_json"}
            edited = await http.post("/v1/render", data={"model": "gpt-image-1", "prompt": "merge"},
                                     files=[("file", ("a.png", PNG)), ("file", ("b.jpg", JPEG, "image/jpeg"))])
            assert edited.status_code == 200 and edited.content.startswith(fo.FAKE_PNG_HEAD + b"merge|")
            sent = up.requests[-1]
            assert sent.path == "/v1/images/edits" and _fields(sent) == {"model": "gpt-image-1", "prompt": "merge"}
            assert [(p.name, p.filename, p.data) for p in fo.form(sent) if p.filename] == [
                ("image[]", "a.png", PNG), ("image[]", "b.jpg", JPEG)]
            one = await http.post("/v1/render", data={"model": "up/gpt-image-1", "prompt": "x"},
                                  files={"file": ("a.png", PNG)})
            assert one.status_code == 200 and [p.name for p in fo.form(up.requests[-1]) if p.filename] == ["image"]

    run(scenario())


def test_render_on_a_gemini_image_model_says_truthfully_what_it_gave(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, fg.FakeGemini() as gem, gateway(
                tmp_path, providers=_providers(up, gem)) as (_, url), httpx.AsyncClient(base_url=url) as http:
            for accept in ("image/png", "image/jpeg"):
                drawn = await http.post("/v1/render", data={"model": GEMINI_IMAGE, "prompt": "a lighthouse"},
                                        headers={"accept": accept})
                assert (drawn.status_code, drawn.headers["content-type"]) == (200, "image/png")
                assert drawn.content == fg.FAKE_PNG_HEAD + b"a lighthouse|[]"
            edited = await http.post("/v1/render", data={"model": GEMINI_IMAGE, "prompt": "in winter"},
                                     files={"file": ("photo.jpg", JPEG, "application/octet-stream")})
            assert edited.content == fg.FAKE_PNG_HEAD + f"in winter|{[len(JPEG)]}".encode()
            assert gem.requests[-1].json["contents"][0]["parts"] == [
                {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(JPEG).decode()}},
                {"text": "in winter"}]
            assert up.requests == []

    run(scenario())


def test_transcribe_answers_the_transcript_as_plain_text(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, fg.FakeGemini() as gem, gateway(
                tmp_path, providers=_providers(up, gem), models={"ears": {"targets": ["up/whisper-1"]}}) as (
                _, url), httpx.AsyncClient(base_url=url) as http:
            heard = await http.post("/v1/transcribe", files={"file": ("talk.wav", WAV, "audio/wav")},
                                    data={"model": "ears", "language": "en", "instructions": "names: Ada"})
            assert (heard.status_code, heard.headers["content-type"]) == (200, "text/plain; charset=utf-8")
            assert heard.text == f"transcript of talk.wav ({len(WAV)} bytes)"
            sent = up.requests[-1]
            assert sent.path == "/v1/audio/transcriptions"
            assert _fields(sent) == {"model": "whisper-1", "language": "en", "prompt": "names: Ada",
                                     "response_format": "json"}
            assert [(p.name, p.filename, p.data) for p in fo.form(sent) if p.filename] == [("file", "talk.wav", WAV)]

    run(scenario())


def test_bad_forms_are_refused_naming_the_field_in_the_utility_error_shape(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, fg.FakeGemini() as gem, gateway(
                tmp_path, providers=_providers(up, gem)) as (_, url), httpx.AsyncClient(base_url=url) as http:
            cases: list[tuple[str, dict[str, Any], str, str]] = [
                ("/v1/transcribe", {"data": {"model": "whisper-1"}, "files": {"file": ("a.wav", b"not audio at all")}},
                 "file", "is not an audio file"),
                ("/v1/transcribe", {"data": {"model": "whisper-1"}}, "file", "is required"),
                ("/v1/transcribe", {"data": {"model": "whisper-1", "response_format": "srt"},
                                    "files": {"file": ("a.wav", WAV)}}, "response_format", "is not a field"),
                ("/v1/render", {"data": {"model": "gpt-image-1", "prompt": "x"},
                                "files": [("file", ("a.png", PNG)), ("file", ("notes.txt", b"hello there"))]},
                 "file", "is not an image"),
                ("/v1/render", {"data": {"model": "gpt-image-1"}}, "prompt", "is required"),
                ("/v1/render", {"json": {"model": "gpt-image-1", "prompt": "x"}}, "body", "must be a form"),
                ("/v1/render", {"data": {"model": "gpt-x", "prompt": "x"}}, "model", "does not support images"),
                ("/v1/render", {"data": {"model": GEMINI_IMAGE, "prompt": "x"}, "files": {"file": ("a.wav", WAV)}},
                 "file", "is not an image"),
                ("/v1/transcribe", {"data": {"model": "gpt-image-1"}, "files": {"file": ("a.wav", WAV)}},
                 "model", "does not support transcription"),
            ]
            for path, request, param, message in cases:
                refused = await http.post(path, **request)
                assert refused.status_code == 400, (path, request)
                error = refused.json()["error"]
                assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request"
                assert error["param"] == param and message in error["message"], (path, request, error)
            unknown = await http.post("/v1/render", data={"model": "nobody/x", "prompt": "x"})
            assert (unknown.status_code, unknown.json()["error"]["param"]) == (404, "model")
            assert up.requests == [] and gem.requests == []

    run(scenario())


def test_upstream_failures_reach_utility_clients_with_their_status(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, fg.FakeGemini() as gem, gateway(
                tmp_path, providers=_providers(up, gem)) as (_, url), httpx.AsyncClient(base_url=url) as http:
            up.script(fo.error(429, "Slow down", headers={"retry-after": "3"}))
            limited = await http.post("/v1/transcribe", data={"model": "whisper-1"}, files={"file": ("a.wav", WAV)})
            assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
            assert limited.json()["error"] == {"message": "Slow down", "type": "rate_limit", "param": None,
                                               "code": None}
            gem.script(fg.text("I would rather not."))
            nothing = await http.post("/v1/render", data={"model": GEMINI_IMAGE, "prompt": "x"})
            assert nothing.status_code == 502 and "I would rather not." in nothing.json()["error"]["message"]

    run(scenario())


@pytest.mark.parametrize(("accept", "chosen"), [
    ("", None), ("*/*", None), ("image/*", None), ("image/png", None), ("image/jpeg", "jpeg"),
    ("image/webp, image/png;q=0.9", "webp"), ("image/png;q=0.5, image/jpeg;q=0.8", "jpeg"),
    ("image/jpeg;q=0, image/*", None), ("application/json", None)])
def test_accept_chooses_the_image_type(accept: str, chosen: str | None) -> None:
    assert output_format(accept) == chosen
