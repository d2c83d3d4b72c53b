"""Audio and images on an OpenAI-compatible upstream, and images on a Gemini image model: the
`openai` SDK through the gateway to the fake upstreams, which record what they received; the
multipart reader alone; usage as the dispatcher records it."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import Any

import httpx
import openai
import pytest

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.catalog import Catalog
from interlingua.adapters.dialects import OPENAI_CHAT, gemini_images
from interlingua.adapters.dialects import openai_media as media
from interlingua.adapters.providers import GeminiProvider, OpenAIProvider, Target
from interlingua.adapters.providers.base import UPLOAD_CHUNK, stream_pieces
from interlingua.adapters.storage.ledger import totals
from interlingua.app.dispatcher import Dispatcher
from interlingua.middleware import normalise
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.state import DIALECT, OPERATION, REQUEST, TARGETS, USAGE
from tests.asgi import call, run
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.harness import client, gateway, gemini_provider, provider

WAV = b"RIFF\x24\x00\x01\x00WAVEfmt " + os.urandom(200_000)  # bigger than one upload chunk
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3_000)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(2_000)
MODELS = ("gpt-4o-mini-tts", "gpt-4o-transcribe", "whisper-1", "gpt-image-1", "dall-e-3", "gpt-x")


def _providers(up: fo.FakeOpenAI, **options: Any) -> dict[str, Any]:
    return {"up": provider(up.url, *MODELS, **options)}


# Speech -------------------------------------------------------------------------------------------


def test_speech_streams_through_as_it_arrives_with_the_upstreams_content_type(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up),
                                                  models={"voice": {"targets": ["up/gpt-4o-mini-tts"]}}) as (app, url):
            gate = asyncio.Event()
            up.script(fo.media(gate=gate))
            async with client(url).audio.speech.with_streaming_response.create(
                    model="voice", input="Hello there", voice="coral", response_format="wav", speed=1.5,
                    instructions="cheerful", extra_body={"stream_format": "audio"}) as response:
                assert response.headers["content-type"] == "audio/wav"
                assert response.headers["x-interlingua-upstream"] == "up/gpt-4o-mini-tts"
                chunks = response.iter_bytes()
                first = await asyncio.wait_for(anext(chunks), 2)
                assert first == fo.FAKE_AUDIO_HEAD and not gate.is_set()
                gate.set()
                rest = b"".join([c async for c in chunks])
            assert first + rest == fo.FAKE_AUDIO_HEAD + b"Hello there|end"
            assert up.requests[-1].json == {"model": "gpt-4o-mini-tts", "input": "Hello there", "voice": "coral",
                                            "response_format": "wav", "speed": 1.5, "instructions": "cheerful",
                                            "stream_format": "audio"}
            whole = await client(url).audio.speech.create(model="gpt-4o-mini-tts", input="Hi", voice={"id": "voice_1"})
            assert whole.content == fo.FAKE_AUDIO_HEAD + b"Hi|end"
            assert whole.response.headers["content-type"] == "audio/mpeg"
            assert up.requests[-1].json["voice"] == {"id": "voice_1"}
            app.ledger.flush()  # type: ignore[union-attr]
        rows = totals(tmp_path / "usage.sqlite3")
        assert sorted((r["model"], r["requests"], r["input_tokens"], r["output_tokens"]) for r in rows) == [
            ("gpt-4o-mini-tts", 1, 0, 0), ("voice", 1, 0, 0)]  # characters are not tokens

    run(scenario())


def test_a_client_leaving_mid_speech_closes_the_upstream_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up)) as (_, url):
            up.script(fo.media(gate=asyncio.Event()))  # never set: the upstream holds its second piece
            async with client(url).audio.speech.with_streaming_response.create(
                    model="gpt-4o-mini-tts", input="Hello", voice="coral") as response:
                assert await asyncio.wait_for(anext(response.iter_bytes()), 2) == fo.FAKE_AUDIO_HEAD
            await up.wait_for_disconnects(1)

    run(scenario())


def test_bad_speech_requests_name_the_field_and_never_reach_the_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up)) as (_, url):
            speech = client(url).audio.speech
            cases: list[tuple[dict[str, Any], str]] = [
                ({"input": "x", "voice": "coral", "extra_body": {"input": None}}, "input"),
                ({"input": "", "voice": "coral"}, "input"),
                ({"input": "x", "voice": ""}, "voice"),
                ({"input": "x", "voice": "coral", "response_format": "ogg"}, "response_format"),
                ({"input": "x", "voice": "coral", "speed": 9}, "speed"),
            ]
            for fields, param in cases:
                with pytest.raises(openai.BadRequestError) as bad:
                    await speech.create(model="gpt-4o-mini-tts", **fields)
                assert bad.value.body["param"] == param, fields  # type: ignore[index]
            with pytest.raises(openai.BadRequestError, match="does not support speech"):
                await speech.create(model="gpt-x", input="x", voice="coral")
            with pytest.raises(openai.BadRequestError, match="does not support chat"):
                await client(url).chat.completions.create(model="gpt-4o-mini-tts",
                                                          messages=[{"role": "user", "content": "hi"}])
            assert up.requests == []

    run(scenario())


def test_upstream_failures_on_media_keep_their_status(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up:
            providers = {**_providers(up, timeout=0.3),
                         "dead": provider(f"http://127.0.0.1:{fo.refused_port()}/v1", "tts-1")}
            async with gateway(tmp_path, providers=providers) as (_, url):
                speech = client(url).audio.speech
                up.script(fo.error(400, "Voice 'nobody' is not supported.", param="voice"),
                          fo.error(429, "Slow down", headers={"retry-after": "7"}),
                          fo.media(head_delay=2))
                with pytest.raises(openai.BadRequestError, match="Voice 'nobody'") as bad:
                    await speech.create(model="gpt-4o-mini-tts", input="x", voice="nobody")
                assert bad.value.body["param"] == "voice"  # type: ignore[index]
                with pytest.raises(openai.RateLimitError) as limited:
                    await speech.create(model="gpt-4o-mini-tts", input="x", voice="coral")
                assert limited.value.response.headers["retry-after"] == "7"
                with pytest.raises(openai.APIStatusError, match="timed out") as slow:
                    await speech.create(model="gpt-4o-mini-tts", input="x", voice="coral")
                assert slow.value.status_code == 504
                with pytest.raises(openai.APIStatusError, match="refused") as refused:
                    await client(url).images.generate(model="dead/gpt-image-1", prompt="a cat")
                assert refused.value.status_code == 503
                assert "sk-upstream-secret" not in str(refused.value.body)

    run(scenario())


# Transcription ------------------------------------------------------------------------------------


def test_transcription_uploads_are_re_encoded_with_the_model_rewritten(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up),
                                                  models={"ears": {"targets": ["up/whisper-1"]}}) as (_, url):
            result = await client(url).audio.transcriptions.create(
                model="ears", file=("talk.wav", WAV, "audio/wav"), language="en", prompt="names: Ada",
                temperature=0.2, response_format="verbose_json", timestamp_granularities=["word", "segment"],
                extra_body={"include": ["logprobs"]})
            assert result.text == f"transcript of talk.wav ({len(WAV)} bytes)"
            assert [w.word for w in result.words or ()] == ["transcript", "of", "talk.wav", f"({len(WAV)} bytes)"]
            sent = up.requests[-1]
            assert sent.headers["content-length"] == str(len(sent.body))
            parts = fo.form(sent)
            fields = [(p.name, p.text) for p in parts if p.filename is None]
            assert ("model", "whisper-1") in fields and ("model", "ears") not in fields
            assert {("language", "en"), ("prompt", "names: Ada"), ("temperature", "0.2"),
                    ("response_format", "verbose_json"), ("timestamp_granularities[]", "word"),
                    ("timestamp_granularities[]", "segment"), ("include[]", "logprobs")} <= set(fields)
            (upload,) = [p for p in parts if p.filename is not None]
            assert (upload.name, upload.filename, upload.content_type, upload.data) == (
                "file", "talk.wav", "audio/wav", WAV)
            text = await client(url).audio.transcriptions.with_raw_response.create(
                model="whisper-1", file=("a.wav", WAV[:1000]), response_format="text")
            assert text.headers["content-type"] == "text/plain; charset=utf-8"
            assert text.parse() == "transcript of a.wav (1000 bytes)\n"

    run(scenario())


def test_streamed_transcripts_pass_through_as_sse(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up)) as (_, url):
            gate = asyncio.Event()
            up.script(fo.media(gate=gate))
            stream = await client(url).audio.transcriptions.create(
                model="gpt-4o-transcribe", file=("a.mp3", b"ID3\x04" + WAV[12:5000]), stream=True)
            events = aiter(stream)
            first = await asyncio.wait_for(anext(events), 2)
            assert (first.type, first.delta) == ("transcript.text.delta", "transcript")  # type: ignore[union-attr]
            gate.set()
            rest = [e async for e in events]
            assert rest[-1].type == "transcript.text.done" and rest[-1].usage.output_tokens == 4  # type: ignore[union-attr]
            assert ("stream", "true") in [(p.name, p.text) for p in fo.form(up.requests[-1]) if p.filename is None]

    run(scenario())


def test_a_transcript_stream_that_breaks_ends_with_an_in_stream_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up)) as (_, url):
            delta = b'data: {"type":"transcript.text.delta","delta":"Hel"}\n\n'
            up.script(fo.media(delta, content_type="text/event-stream", drop=True))
            stream = await client(url).audio.transcriptions.create(
                model="gpt-4o-transcribe", file=("a.wav", WAV), stream=True)
            seen = []
            with pytest.raises(openai.APIError, match="closed the connection"):
                async for event in stream:
                    seen.append(event)
            assert [e.delta for e in seen] == ["Hel"]  # type: ignore[union-attr]

    run(scenario())


def test_bad_transcription_requests_name_the_field(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up)) as (_, url):
            transcribe = client(url).audio.transcriptions.create
            with pytest.raises(openai.BadRequestError, match="not an audio file") as not_audio:
                await transcribe(model="whisper-1", file=("notes.wav", b"just some text, not audio"))
            with pytest.raises(openai.BadRequestError) as bad_format:
                await transcribe(model="whisper-1", file=("a.wav", WAV), response_format="xml")  # type: ignore[arg-type]
            with pytest.raises(openai.BadRequestError) as bad_granularity:
                await transcribe(model="whisper-1", file=("a.wav", WAV), timestamp_granularities=["line"])  # type: ignore[list-item]
            with pytest.raises(openai.BadRequestError, match="does not support transcription"):
                await transcribe(model="gpt-x", file=("a.wav", WAV))
            assert [e.value.body["param"] for e in (not_audio, bad_format, bad_granularity)] == [  # type: ignore[index]
                "file", "response_format", "timestamp_granularities"]
            async with httpx.AsyncClient(base_url=url) as raw:
                no_file = await raw.post("/v1/audio/transcriptions", data={"model": "whisper-1"},
                                         files={"other": ("a.wav", WAV)})
                as_json = await raw.post("/v1/audio/transcriptions", json={"model": "whisper-1"})
                no_model = await raw.post("/v1/audio/transcriptions", files={"file": ("a.wav", WAV)})
                cut_short = await raw.post("/v1/audio/transcriptions", content=b"--b\r\nContent-Disposition: form-da",
                                           headers={"content-type": "multipart/form-data; boundary=b"})
            assert [r.json()["error"]["param"] for r in (no_file, as_json, no_model)] == ["file", "file", "model"]
            assert cut_short.status_code == 400 and "multipart" in cut_short.json()["error"]["message"]
            assert up.requests == []

    run(scenario())


def test_an_upload_over_the_cap_is_refused_before_the_upstream_sees_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up),
                                                  server={"max_body_mb": 0.05}) as (_, url):
            with pytest.raises(openai.APIStatusError, match="larger than the limit") as refused:
                await client(url).audio.transcriptions.create(model="whisper-1", file=("a.wav", WAV))
            assert refused.value.status_code == 413
            assert (await client(url).audio.transcriptions.create(model="whisper-1", file=("a.wav", WAV[:9000]))).text
            assert [r.path for r in up.requests] == ["/v1/audio/transcriptions"]

    run(scenario())


def test_a_fallback_target_gets_the_whole_upload_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as broken, fo.FakeOpenAI() as good:
            providers = {"broken": provider(broken.url), "good": provider(good.url)}
            models = {"ears": {"targets": ["broken/whisper-1", "good/whisper-large"]}}
            async with gateway(tmp_path, providers=providers, models=models) as (_, url):
                broken.script(fo.error(500, "The server had an error"))
                reply = await client(url).audio.transcriptions.with_raw_response.create(
                    model="ears", file=("a.wav", WAV))
                assert reply.headers["x-interlingua-upstream"] == "good/whisper-large"
                for up, model in ((broken, "whisper-1"), (good, "whisper-large")):
                    parts = {p.name: p for p in fo.form(up.requests[-1])}
                    assert (parts["model"].text, parts["file"].data) == (model, WAV)

    run(scenario())


# Images -------------------------------------------------------------------------------------------


def test_image_generation_passes_every_field_with_the_model_rewritten(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up),
                                                  models={"paint": {"targets": ["up/gpt-image-1"]}}) as (_, url):
            fields: dict[str, Any] = {"prompt": "a lighthouse", "n": 2, "size": "1024x1024", "quality": "high",
                                      "background": "transparent", "output_format": "png", "moderation": "low",
                                      "response_format": "b64_json"}
            result = await client(url).images.generate(model="paint", extra_body={"style": "vivid"}, **fields)
            assert [base64.b64decode(d.b64_json or "") for d in result.data or ()] == [
                fo.FAKE_PNG_HEAD + b"a lighthouse|0", fo.FAKE_PNG_HEAD + b"a lighthouse|1"]
            assert up.requests[-1].json == {"model": "gpt-image-1", **fields, "style": "vivid"}
            urls = await client(url).images.generate(model="dall-e-3", prompt="a cat", response_format="url")
            assert urls.data[0].url == "https://images.fake.invalid/0.png"  # type: ignore[index]
            for bad, param in (({"n": 0}, "n"), ({"response_format": "png"}, "response_format"),
                               ({"prompt": ""}, "prompt")):
                with pytest.raises(openai.BadRequestError) as refused:
                    await client(url).images.generate(model="gpt-image-1", **{"prompt": "x", **bad})
                assert refused.value.body["param"] == param  # type: ignore[index]
            assert len(up.requests) == 2

    run(scenario())


def test_image_edits_upload_several_images_and_a_mask(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up)) as (_, url):
            edit = client(url).images.edit
            result = await edit(model="up/gpt-image-1", prompt="merge them", image=[("a.png", PNG), ("b.jpg", JPEG)],
                                mask=("m.png", PNG, "image/png"), n=1, size="1024x1024", input_fidelity="high")
            assert result.data[0].revised_prompt == f"merge them from 2 images of {[len(PNG), len(JPEG)]} bytes"  # type: ignore[index]
            parts = fo.form(up.requests[-1])
            assert [(p.name, p.filename, p.data) for p in parts if p.filename] == [
                ("image[]", "a.png", PNG), ("image[]", "b.jpg", JPEG), ("mask", "m.png", PNG)]
            assert {(p.name, p.text) for p in parts if p.filename is None} >= {
                ("model", "gpt-image-1"), ("prompt", "merge them"), ("input_fidelity", "high")}
            one = await edit(model="gpt-image-1", prompt="x", image=("a.png", PNG))
            assert one.data and [p.name for p in fo.form(up.requests[-1]) if p.filename] == ["image"]
            for kwargs, param in (({"image": [("a.png", PNG), ("b.png", b"GIF")]}, "image[1]"),
                                  ({"image": ("a.png", WAV)}, "image"),
                                  ({"image": ("a.png", PNG), "mask": ("m.png", b"not a png")}, "mask")):
                with pytest.raises(openai.BadRequestError, match="is not an image") as refused:
                    await edit(model="gpt-image-1", prompt="x", **kwargs)
                assert refused.value.body["param"] == param  # type: ignore[index]
            assert len(up.requests) == 2

    run(scenario())


def test_models_say_what_their_names_tell(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers=_providers(up)) as (_, url):
            listed = {m.id: m.capabilities for m in (await client(url).models.list()).data}  # type: ignore[attr-defined]
            assert [listed[m] for m in MODELS] == [["speech"], ["transcription"], ["transcription"], ["images"],
                                                   ["images"], ["chat"]]

    run(scenario())
    gemini = GeminiProvider("g", "http://127.0.0.1:9")
    assert gemini.capabilities("gemini-2.5-flash-image") == ("chat", "images")  # Gemini's image models chat too
    assert [gemini.capabilities(m) for m in ("gemini-2.5-flash", "gemini-2.5-flash-preview-tts")] == [("chat",)] * 2


# Images on a Gemini image model -------------------------------------------------------------------

GEMINI_IMAGE = "gemini-2.5-flash-image"


def test_a_gemini_image_model_answers_openai_images_requests_in_openais_shape(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={
                "g": gemini_provider(up.url, GEMINI_IMAGE, "gemini-2.5-flash")}) as (app, url):
            b64 = await client(url).images.generate(model=GEMINI_IMAGE, prompt="a lighthouse", size="1536x1024",
                                                    quality="high")
            (image,) = b64.data or ()
            assert base64.b64decode(image.b64_json or "") == fg.FAKE_PNG_HEAD + b"a lighthouse|[]"
            assert b64.usage and (b64.usage.input_tokens, b64.usage.output_tokens, b64.usage.total_tokens) == (
                10, 1290, 1300)
            sent = up.requests[-1]
            assert (sent.model, sent.action) == (GEMINI_IMAGE, "generateContent")
            assert sent.json == {"contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}],
                                 "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                                                      "imageConfig": {"aspectRatio": "3:2"}}}
            linked = await client(url).images.generate(model=f"g/{GEMINI_IMAGE}", prompt="a cat", response_format="url")
            assert linked.data and linked.data[0].url == "data:image/png;base64," + base64.b64encode(
                fg.FAKE_PNG_HEAD + b"a cat|[]").decode()
            chat = await client(url).chat.completions.create(model=GEMINI_IMAGE,
                                                              messages=[{"role": "user", "content": "hi"}])
            assert chat.choices[0].message.content == "Hello from fake"  # the image model chats as well
            with pytest.raises(openai.BadRequestError, match="does not support images"):
                await client(url).images.generate(model="gemini-2.5-flash", prompt="a cat")
            app.ledger.flush()  # type: ignore[union-attr]
        rows = {r["model"]: r for r in totals(tmp_path / "usage.sqlite3")}
        assert (rows[GEMINI_IMAGE]["images"], rows[GEMINI_IMAGE]["output_tokens"]) == (1, 1290 + 5)  # and the chat's
        assert rows[f"g/{GEMINI_IMAGE}"]["images"] == 1

    run(scenario())


def test_an_edit_sends_its_images_to_gemini_as_inline_data_before_the_prompt(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, GEMINI_IMAGE)}) as (
                _, url):
            edit = client(url).images.edit
            result = await edit(model=GEMINI_IMAGE, prompt="merge them", image=[("a.png", PNG), ("b.bin", JPEG)])
            assert result.data and base64.b64decode(result.data[0].b64_json or "") == (
                fg.FAKE_PNG_HEAD + f"merge them|{[len(PNG), len(JPEG)]}".encode())
            (turn,) = up.requests[-1].json["contents"]
            assert turn["parts"] == [
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
                {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(JPEG).decode()}},  # by its bytes
                {"text": "merge them"}]
            with pytest.raises(openai.BadRequestError, match="not supported by Gemini") as masked:
                await edit(model=GEMINI_IMAGE, prompt="x", image=("a.png", PNG), mask=("m.png", PNG))
            assert masked.value.body["param"] == "mask"  # type: ignore[index]
            assert len(up.requests) == 1

    run(scenario())


def test_a_gemini_image_model_that_draws_nothing_is_an_error_that_says_why(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, GEMINI_IMAGE)}) as (
                _, url):
            up.script(fg.blocked("PROHIBITED_CONTENT"), fg.text("I can only draw cats."),
                      fg.error(429, "Resource has been exhausted", retry_delay="7s", headers={"retry-after": "7"}))
            generate = client(url).images.generate
            with pytest.raises(openai.BadRequestError, match="refused the prompt") as refused:
                await generate(model=GEMINI_IMAGE, prompt="something bad")
            assert refused.value.body["code"] == "content_policy_violation"  # type: ignore[index]
            with pytest.raises(openai.APIStatusError, match="answered no image: I can only draw cats.") as nothing:
                await generate(model=GEMINI_IMAGE, prompt="a dog")
            assert nothing.value.status_code == 502
            with pytest.raises(openai.RateLimitError, match="exhausted") as limited:
                await generate(model=GEMINI_IMAGE, prompt="a dog")
            assert limited.value.response.headers["retry-after"] == "7"

    run(scenario())


@pytest.mark.parametrize(("size", "ratio"), [("1024x1024", "1:1"), ("1536x1024", "3:2"), ("1024x1536", "2:3"),
                                             ("1792x1024", "16:9"), ("256x256", "1:1"), ("auto", None), (None, None),
                                             ("0x10", None)])
def test_openai_sizes_map_to_the_nearest_gemini_aspect_ratio(size: str | None, ratio: str | None) -> None:
    assert gemini_images.aspect_ratio(size) == ratio


# The multipart reader alone -----------------------------------------------------------------------


def _multipart(*parts: tuple[str, str | None, bytes], boundary: str = "xyz") -> tuple[bytes, list[tuple[bytes, bytes]]]:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        kind = b"Content-Type: application/octet-stream\r\n" if filename else b""
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode() + kind + b"\r\n" + data + b"\r\n"
    kind_header = (b"content-type", f"multipart/form-data; boundary={boundary}".encode())
    return out + f"--{boundary}--\r\n".encode(), [kind_header]


def _transcription_state() -> dict[str, Any]:
    return {DIALECT: OPENAI_CHAT, OPERATION: ops.TRANSCRIPTIONS}


def test_uploads_spool_to_disk_past_the_memory_limit_and_close_after_the_request() -> None:
    seen: list[ir.TranscriptionRequest] = []
    rolled: list[bool] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = scope["state"][REQUEST]
        seen.append(request)
        rolled.append(request.file.file._rolled)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = NormalisationMiddleware(inner, spool_bytes=4096)
    for size in (1000, 50_000):
        body, headers = _multipart(("model", None, b"whisper-1"), ("file", "a.wav", WAV[:size]))
        pieces = [body[i:i + 777] for i in range(0, len(body), 777)]  # the network's chunking, not the parts'
        assert run(call(app, "POST", "/v1/audio/transcriptions", body=pieces, headers=headers,
                        state=_transcription_state())).status == 200
    assert rolled == [False, True]
    assert [(r.model, r.file.size, r.file.head) for r in seen] == [("whisper-1", 1000, WAV[:16]),  # type: ignore[union-attr]
                                                                     ("whisper-1", 50_000, WAV[:16])]
    assert all(r.file.file.closed for r in seen)  # type: ignore[union-attr]


def test_an_upload_over_the_cap_is_refused_while_it_streams_in(monkeypatch: pytest.MonkeyPatch) -> None:
    spools: list[SpooledTemporaryFile[bytes]] = []

    class Watched(SpooledTemporaryFile):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            spools.append(self)

    monkeypatch.setattr(normalise, "SpooledTemporaryFile", Watched)
    inner_calls: list[Any] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        inner_calls.append(scope)

    body, headers = _multipart(("model", None, b"whisper-1"), ("file", "a.wav", WAV[:20_000]))
    pieces = [body[:6000], body[6000:12000], b"never read"]
    out = run(call(NormalisationMiddleware(inner, max_body_bytes=10_000), "POST", "/v1/audio/transcriptions",
                   body=pieces, headers=headers, state=_transcription_state()))
    assert out.status == 413 and "limit of 10000 bytes" in out.json()["error"]["message"]
    assert inner_calls == [] and len(spools) == 1 and spools[0].closed


# Usage, as the dispatcher leaves it for metering ------------------------------------------------


def test_media_usage_counts_characters_audio_bytes_and_images(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up:
            target = Target(OpenAIProvider("up", up.url), "m-whisper")
            form = ir.Form([("model", "whisper-1")], [ir.Upload("file", "a.wav", "audio/wav", _spool(WAV), len(WAV),
                                                                WAV[:16])])
            requests: list[tuple[str, Any]] = [
                (ops.SPEECH, media.decode_speech_request({"model": "m", "input": "Hello", "voice": "x"}, "openai")),
                (ops.SPEECH, media.decode_speech_request(
                    {"model": "m", "input": "Hello", "voice": "x", "stream_format": "sse"}, "openai")),
                (ops.TRANSCRIPTIONS, media.decode_transcription_request(form, "openai")),
                (ops.IMAGE_GENERATIONS, media.decode_image_request(
                    {"model": "m", "prompt": "p", "n": 3}, "openai", False)),
                (ops.IMAGE_GENERATIONS, media.decode_image_request(
                    {"model": "m", "prompt": "p", "n": 2, "stream": True}, "openai", False)),
            ]
            usages = []
            for operation, request in requests:
                state = {DIALECT: OPENAI_CHAT, OPERATION: operation, REQUEST: request, TARGETS: [target]}
                out = await call(Dispatcher(Catalog({}, {})), "POST", state=state)
                assert out.status == 200, out.body
                usages.append(state[USAGE])
            form.close()
        assert usages == [
            ir.Usage(characters=5),
            ir.Usage(input_tokens=5, output_tokens=9, characters=5),  # speech's own SSE reports tokens
            ir.Usage(audio_seconds=1.0),  # whisper bills seconds
            ir.Usage(input_tokens=10, output_tokens=300, images=3),
            ir.Usage(input_tokens=10, output_tokens=100, images=2),
        ]

    run(scenario())


def _spool(data: bytes) -> Any:
    spool = SpooledTemporaryFile(max_size=1024)
    spool.write(data)
    return spool


def test_form_pieces_frame_fields_and_files_as_multipart() -> None:
    upload = ir.Upload("file", 'a "b".wav', "audio/wav", _spool(b"RIFF"), 4, b"RIFF")
    pieces = media.form_pieces([("model", "m"), ("prompt", "ünïcode")], [upload], "B")
    assert pieces[1] is upload and media.form_length(pieces) == sum(len(p) for p in pieces[::2]) + 4
    whole = pieces[0] + b"RIFF" + pieces[2]  # type: ignore[operator]
    assert whole == ('--B\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n'
                     '--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nünïcode\r\n'
                     '--B\r\nContent-Disposition: form-data; name="file"; filename="a %22b%22.wav"\r\n'
                     'Content-Type: audio/wav\r\n\r\nRIFF\r\n--B--\r\n').encode()
    parsed = fo.form(fo.RecordedRequest("POST", "/", {"content-type": "multipart/form-data; boundary=B"}, None, whole))
    assert [(p.name, p.data) for p in parsed] == [("model", b"m"), ("prompt", "ünïcode".encode()), ("file", b"RIFF")]


def test_an_upload_streams_from_its_spool_in_chunks_each_reader_at_its_own_offset() -> None:
    upload = ir.Upload("file", "a.wav", "audio/wav", _spool(WAV), len(WAV), WAV[:16])
    pieces = media.form_pieces([("model", "m")], [upload], "B")

    async def read_two_at_once() -> tuple[list[bytes], list[bytes]]:
        first, second = stream_pieces(pieces), stream_pieces(pieces)
        a, b = [await anext(first), await anext(first)], [await anext(second)]
        b += [chunk async for chunk in second]  # the other reader moved the spool meanwhile
        return a + [chunk async for chunk in first], b

    first, second = run(read_two_at_once())
    assert first == second and b"".join(first) == pieces[0] + WAV + pieces[2]  # type: ignore[operator]
    assert [len(c) for c in first[1:-1]] == [UPLOAD_CHUNK] * (len(WAV) // UPLOAD_CHUNK) + [len(WAV) % UPLOAD_CHUNK]
