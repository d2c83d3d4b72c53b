"""OpenAI's audio and images endpoints, both directions; the OpenAI codec routes these operations here.

`/v1/audio/speech` and `/v1/images/generations` are JSON; `/v1/audio/transcriptions` and
`/v1/images/edits` are multipart, which normalisation has already parsed into an `ir.Form` with the
file parts spooled. The codec does no I/O: it checks an upload's kind by its first bytes (`head`)
and describes the upstream's multipart body as pieces (bytes, and the uploads to stream between
them), which the provider sends. Between an OpenAI client and an OpenAI-compatible upstream answers
are not translated: the upstream's bytes reach the client with the upstream's content type, so
usage is read from them on the way (`usage_of`, `MediaPassthrough`) rather than decoded into an IR
result. Only where that cannot be are answers IR: a client of another dialect (the utility forms)
gets them decoded (`decode_image_response`, `decode_transcription_response`), and an OpenAI client
of an upstream that answers in IR (a Gemini image model) gets `encode_image_response`.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeAlias, TypeGuard

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import forms, sse
from interlingua.adapters.dialects.base import Passthrough, StreamEncoder

MediaRequest: TypeAlias = ir.SpeechRequest | ir.TranscriptionRequest | ir.ImageRequest
REQUESTS = (ir.SpeechRequest, ir.TranscriptionRequest, ir.ImageRequest)

SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
TRANSCRIPT_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
IMAGE_FORMATS = ("b64_json", "url")
GRANULARITIES = ("word", "segment")

_SPEECH_FIELDS = frozenset({"model", "input", "voice", "response_format", "speed", "instructions"})
_TRANSCRIPT_FIELDS = frozenset({"model", "language", "prompt", "response_format", "temperature",
                                "timestamp_granularities", "timestamp_granularities[]", "stream"})
_IMAGE_FIELDS = frozenset({"model", "prompt", "n", "size", "response_format", "stream"})
_IMAGE_PARTS = ("image", "image[]", "mask")  # the parts that must be images; others pass unchecked


# Request: wire -> IR ------------------------------------------------------------------------------


def _form(body: Any, file_field: str) -> ir.Form:
    if not isinstance(body, ir.Form):
        raise ir.invalid(file_field, "is required: send the request as multipart/form-data")
    return body


def decode_speech_request(body: Any, dialect: str) -> ir.SpeechRequest:
    body = f.obj(body, "body")
    voice = body.get("voice")
    if isinstance(voice, dict) and isinstance(voice.get("id"), str) and voice["id"]:
        voice = voice["id"]  # a custom voice; the native body keeps the object
    elif not isinstance(voice, str) or not voice:
        raise ir.invalid("voice", "is required: a voice name, or an object with the id of a custom voice")
    speed = f.number(body, "speed")
    if speed is not None and not 0.25 <= speed <= 4.0:
        raise ir.invalid("speed", "must be between 0.25 and 4")
    return ir.SpeechRequest(
        model=f.string(body, "model", required=True),
        input=f.string(body, "input", required=True),
        voice=voice,
        dialect=dialect,
        native=body,
        response_format=f.choice(body, "response_format", SPEECH_FORMATS),
        speed=speed,
        instructions=f.string(body, "instructions"),
        extra=f.rest(body, _SPEECH_FIELDS) or {},
    )


def decode_transcription_request(body: Any, dialect: str) -> ir.TranscriptionRequest:
    form = _form(body, "file")
    values = forms.values(form)
    upload = forms.audio(form, values)
    granularities = values.get("timestamp_granularities[]") or values.get("timestamp_granularities")
    for value in granularities or ():
        if value not in GRANULARITIES:
            raise ir.invalid("timestamp_granularities", f"must be {' or '.join(GRANULARITIES)}")
    return ir.TranscriptionRequest(
        model=forms.text(values, "model", required=True),
        filename=upload.filename,
        content_type=upload.content_type,
        dialect=dialect,
        file=upload,
        native=form.fields,
        language=forms.text(values, "language"),
        prompt=forms.text(values, "prompt"),
        response_format=forms.choice(values, "response_format", TRANSCRIPT_FORMATS),
        temperature=forms.number(values, "temperature", 0.0, 1.0),
        timestamp_granularities=granularities,
        stream=forms.boolean(values, "stream"),
        extra=forms.rest(values, _TRANSCRIPT_FIELDS),
    )


def decode_image_request(body: Any, dialect: str, edit: bool) -> ir.ImageRequest:
    """Generation takes JSON; an edit takes multipart with the images (or JSON that references
    them, passed on as it is). The model is required: the gateway routes by it."""
    if not isinstance(body, ir.Form):
        body = f.obj(body, "body")
        return ir.ImageRequest(
            model=f.string(body, "model", required=True),
            prompt=f.string(body, "prompt", required=True),
            dialect=dialect,
            n=f.integer(body, "n", minimum=1),
            size=f.string(body, "size"),
            response_format=f.choice(body, "response_format", IMAGE_FORMATS),  # type: ignore[arg-type]  # a str checked against the Literal's values
            edit=edit,
            stream=bool(f.boolean(body, "stream")),
            native=body,
            extra=f.rest(body, _IMAGE_FIELDS) or {},
        )
    if not edit:
        raise ir.invalid("body", "must be a JSON object")
    values = forms.values(body)
    uploads = [u for name in _IMAGE_PARTS for u in forms.images(body, values, name)]
    if all(u.name == "mask" for u in uploads):
        raise ir.invalid("image", "is required")
    return ir.ImageRequest(
        model=forms.text(values, "model", required=True),
        prompt=forms.text(values, "prompt", required=True),
        dialect=dialect,
        n=forms.integer(values, "n"),
        size=forms.text(values, "size"),
        response_format=forms.choice(values, "response_format", IMAGE_FORMATS),  # type: ignore[arg-type]  # a str checked against the Literal's values
        edit=True,
        stream=forms.boolean(values, "stream"),
        files=body.files,
        native=body.fields,
        extra=forms.rest(values, _IMAGE_FIELDS),
    )


# Request: IR -> wire ------------------------------------------------------------------------------

Fields = list[tuple[str, str]]


def _set(body: dict[str, Any], **values: Any) -> dict[str, Any]:
    body.update((k, v) for k, v in values.items() if v is not None)
    return body


def encode_speech_request(req: ir.SpeechRequest, model: str) -> dict[str, Any]:
    """The client's body with the upstream's model; from the IR when it came in another dialect."""
    if req.native is not None:
        return {**req.native, "model": model}
    return _set({"model": model, "input": req.input, "voice": req.voice}, response_format=req.response_format,
                speed=req.speed, instructions=req.instructions)


def _with_model(fields: Fields, model: str) -> Fields:
    return [(name, model if name == "model" else value) for name, value in fields]


def transcription_form(req: ir.TranscriptionRequest, model: str) -> tuple[Fields, list[ir.Upload]]:
    """The text fields and files of the upstream's multipart body."""
    if req.file is None:
        raise ir.invalid("file", "is required")
    if req.native is not None:
        return _with_model(req.native, model), [req.file]
    fields: Fields = [("model", model)]
    for name, value in (("language", req.language), ("prompt", req.prompt),
                        ("response_format", req.response_format), ("temperature", req.temperature)):
        if value is not None:
            fields.append((name, str(value)))
    fields += [("timestamp_granularities[]", g) for g in req.timestamp_granularities or ()]
    if req.stream:
        fields.append(("stream", "true"))
    return fields, [req.file]


# Name rules for requests built from the IR (the utility forms): gpt-image models always answer
# base64 and refuse `response_format`; dall-e models make PNGs only and have no `output_format`.
_BASE64_ONLY = "gpt-image"
_PNG_ONLY = "dall-e"


def image_request(req: ir.ImageRequest, model: str) -> tuple[str, dict[str, Any] | tuple[Fields, list[ir.Upload]]]:
    """Where an image request goes upstream and what it sends: a JSON body, or multipart fields and files."""
    path = "/images/edits" if req.edit else "/images/generations"
    if isinstance(req.native, list):
        return path, (_with_model(req.native, model), list(req.files or ()))
    if req.native is not None:
        return path, {**req.native, "model": model}
    name = model.lower()
    body = _set({"model": model, "prompt": req.prompt}, n=req.n, size=req.size, stream=req.stream or None,
                response_format=None if _BASE64_ONLY in name else req.response_format,
                output_format=None if _PNG_ONLY in name else req.output_format)
    if not req.edit:
        return path, body
    fields = [(k, "true" if v is True else str(v)) for k, v in body.items()]
    images = sum(u.name != "mask" for u in req.files or ())
    part = "image" if images == 1 else "image[]"  # one image is `image`, several `image[]`
    files = [u if u.name == "mask" else replace(u, name=part) for u in req.files or ()]
    return path, (fields, files)


def _quoted(text: str) -> bytes:
    """A name or filename inside a quoted header parameter, escaped as browsers do (WHATWG)."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode()


def form_pieces(fields: Fields, files: list[ir.Upload], boundary: str) -> list[bytes | ir.Upload]:
    """A multipart/form-data body as pieces: framing and text fields as bytes, and the uploads,
    which the provider streams from their spools in between. Text fields go first."""
    dash = b"--" + boundary.encode()
    pieces: list[bytes | ir.Upload] = []
    text = bytearray()
    for name, value in fields:
        text += b'%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (dash, _quoted(name), value.encode())
    for upload in files:
        content_type = upload.content_type.replace("\r", "").replace("\n", "") or "application/octet-stream"
        text += b'%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: %s\r\n\r\n' % (
            dash, _quoted(upload.name), _quoted(upload.filename), content_type.encode())
        pieces += [bytes(text), upload]
        text = bytearray(b"\r\n")
    text += dash + b"--\r\n"
    pieces.append(bytes(text))
    return pieces


def form_length(pieces: list[bytes | ir.Upload]) -> int:
    return sum(len(p) if isinstance(p, bytes) else p.size for p in pieces)


# Usage --------------------------------------------------------------------------------------------


def request_usage(req: MediaRequest) -> ir.Usage:
    """What a request tells about its own size. Tokens stay 0 unless the upstream reports them:
    the characters of speech input are not tokens, and a later change meters these units."""
    if isinstance(req, ir.SpeechRequest):
        return ir.Usage(characters=len(req.input))
    if isinstance(req, ir.TranscriptionRequest):
        return ir.Usage()
    return ir.Usage(images=0)


def _count(payload: dict[str, Any], usage: ir.Usage) -> None:
    """Add what one upstream answer or event reports: its token usage, and the images it carries."""
    reported = payload.get("usage")
    if isinstance(reported, dict):
        usage.input_tokens = f.count(reported, "input_tokens")
        usage.output_tokens = f.count(reported, "output_tokens")
        seconds = reported.get("seconds")
        if reported.get("type") == "duration" and _seconds(seconds):  # whisper-1 bills seconds
            usage.audio_seconds = float(seconds)
    if usage.images is not None:
        kind = payload.get("type")
        if isinstance(payload.get("data"), list):
            usage.images = len(payload["data"])
        elif isinstance(kind, str) and kind.startswith("image_") and kind.endswith(".completed"):
            usage.images += 1


def _seconds(value: Any) -> TypeGuard[float]:
    """Whether an upstream's `seconds` can be metered: a number, finite and not negative."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


def _usage(req: MediaRequest, payload: Any) -> ir.Usage:
    usage = request_usage(req)
    if isinstance(payload, dict):
        _count(payload, usage)
    return usage


def usage_of(req: MediaRequest, body: bytes) -> ir.Usage:
    """Usage of a whole answer: the request's own counts, plus what a JSON answer reports."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:  # text, srt, vtt transcripts carry no usage
        return request_usage(req)
    return _usage(req, payload)


# Answers in IR: for a client of another dialect, and from an upstream that answers in IR ---------


def decode_transcription_response(payload: Any, req: ir.TranscriptionRequest) -> ir.Transcript:
    """A JSON transcript (`response_format` json, which the request asked for)."""
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        raise ir.GatewayError("upstream", "upstream answered no transcript text")
    return ir.Transcript(text, usage=_usage(req, payload))


def _media_type(b64: str) -> str | None:
    """An image's media type from its first bytes (24 base64 characters are 18 bytes)."""
    try:
        return forms.image_type(base64.b64decode(b64[:24]))
    except (binascii.Error, ValueError):
        return None


def decode_image_response(payload: Any, req: ir.ImageRequest) -> ir.ImageResponse:
    """The images' bytes, which the request asked for (`b64_json`): a link would not do."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not data:
        raise ir.GatewayError("upstream", "upstream answered no images")
    images = []
    for entry in data:
        b64 = entry.get("b64_json") if isinstance(entry, dict) else None
        if not isinstance(b64, str) or not b64:
            raise ir.GatewayError("upstream", "upstream answered an image without its bytes (b64_json)")
        images.append(ir.Image(data=b64, media_type=_media_type(b64)))
    return ir.ImageResponse(images, created=f.timestamp(payload, "created"), usage=_usage(req, payload))


def encode_image_response(resp: ir.ImageResponse, req: ir.ImageRequest) -> dict[str, Any]:
    """OpenAI's images answer: `b64_json`, or for `response_format: url` a `data:` URL. The gateway
    has no file host, so it has no link of its own to give; a data URL opens like one in browsers
    and most image libraries."""
    data: list[dict[str, Any]]
    if req.response_format == "url":
        data = [{"url": f.data_url(i.media_type or "image/png", i.data or "")} for i in resp.images]
    else:
        data = [{"b64_json": i.data} for i in resp.images]
    out: dict[str, Any] = {"created": resp.created, "data": data}
    if resp.usage is not None:
        out["usage"] = {"input_tokens": resp.usage.input_tokens, "output_tokens": resp.usage.output_tokens,
                        "total_tokens": resp.usage.total_tokens}
    return out


def is_event_stream(req: MediaRequest) -> bool:
    """Whether the client asked for SSE: streamed transcripts and images, and speech's `sse` format."""
    if isinstance(req, ir.SpeechRequest):
        return req.extra.get("stream_format") == "sse"
    return req.stream


# Streams ------------------------------------------------------------------------------------------


class MediaPassthrough(Passthrough):
    """Forwards a media answer byte for byte, as it arrives.

    Usage starts as what the request tells (characters spoken) and, in an event stream,
    takes the upstream's counts from the events that carry them (`transcript.text.done`,
    `speech.audio.done`, `image_generation.completed`...). Only those events are parsed.
    """

    __slots__ = ("_scanned",)
    media_type = "application/octet-stream"  # when the upstream names none

    def __init__(self, req: MediaRequest) -> None:
        super().__init__()
        self.usage = request_usage(req)
        self._scanned = is_event_stream(req)

    def feed(self, chunk: bytes) -> bytes:
        self.events += 1
        if self._scanned:
            super().feed(chunk)
        return chunk

    def close(self) -> bytes:
        if self._scanned:
            super().close()
        return b""

    def forward(self, block: bytes) -> bytes:
        """Only read: the events' usage counts."""
        if b'"usage"' not in block and b'.completed"' not in block:
            return b""
        for _, data in sse.events(block):
            if b'"usage"' in data or b'.completed"' in data:
                try:
                    payload = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(payload, dict):
                    _count(payload, self.usage)  # type: ignore[arg-type]  # a media passthrough always starts with the request's usage
        return b""


class MediaStreamEncoder(StreamEncoder):
    """Only what an error after the first byte needs: media answers pass through, never as IR events.

    An event stream gets the dialect's in-stream error; audio or a JSON body has no place for one,
    so it just ends there.
    """

    def __init__(self, req: MediaRequest, error_body: Callable[[ir.GatewayError], bytes]) -> None:
        self._sse = is_event_stream(req)
        self._error_body = error_body

    def encode(self, event: ir.StreamEvent) -> bytes:
        return b""

    def end(self) -> bytes:
        return b""

    def error(self, error: ir.GatewayError) -> bytes:
        return sse.frame(self._error_body(error)) if self._sse else b""
