"""OpenAI's audio and images endpoints, both directions; the OpenAI codec routes these operations here.

`/v1/audio/speech` and `/v1/images/generations` are JSON; `/v1/audio/transcriptions` and
`/v1/images/edits` are multipart, which normalisation has already parsed into an `ir.Form` with the
file parts spooled. The codec does no I/O: it checks an upload's kind by its first bytes (`head`)
and describes the upstream's multipart body as pieces (bytes, and the uploads to stream between
them), which the provider sends. Answers are not translated: the upstream's bytes reach the client
with the upstream's content type, so usage is read from them on the way (`usage_of`,
`MediaPassthrough`) rather than decoded into an IR result.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import orjson

from adapters import ir
from adapters.dialects import fields as f
from adapters.dialects import sse
from adapters.dialects.base import Passthrough, StreamEncoder

MediaRequest = Union[ir.SpeechRequest, ir.TranscriptionRequest, ir.ImageRequest]
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


# What an upload is, from its first bytes ------------------------------------------------------------


def is_audio(head: bytes) -> bool:
    """The containers OpenAI transcribes: wav, mp3 (ID3 tag or a bare MPEG frame), ogg, flac,
    mp4/m4a, webm."""
    return ((head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[:3] == b"ID3"
            or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # an MPEG frame sync
            or head[:4] in (b"OggS", b"fLaC", b"\x1a\x45\xdf\xa3") or head[4:8] == b"ftyp")


def is_image(head: bytes) -> bool:
    """PNG, JPEG, GIF or WEBP, the formats the images endpoints take."""
    return (head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff" or head[:6] in (b"GIF87a", b"GIF89a")
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"))


# Request: wire -> IR ------------------------------------------------------------------------------


def _form(body: Any, file_field: str) -> ir.Form:
    if not isinstance(body, ir.Form):
        raise ir.invalid(file_field, "is required: send the request as multipart/form-data")
    return body


def _values(form: ir.Form) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in form.fields:
        values.setdefault(name, []).append(value)
    return values


def _text(values: dict[str, list[str]], key: str, required: bool = False) -> str | None:
    """A scalar form field; the last one counts when it is repeated, as in most form parsers."""
    found = values.get(key)
    if not found or not found[-1]:
        if required:
            raise ir.invalid(key, "is required")
        return None
    return found[-1]


def _form_number(values: dict[str, list[str]], key: str, low: float, high: float) -> float | None:
    raw = _text(values, key)
    if raw is None:
        return None
    try:
        number = float(raw)
    except ValueError:
        raise ir.invalid(key, "must be a number") from None
    if not low <= number <= high:
        raise ir.invalid(key, f"must be between {low:g} and {high:g}")
    return number


def _form_integer(values: dict[str, list[str]], key: str) -> int | None:
    raw = _text(values, key)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ir.invalid(key, "must be a positive integer")
    return int(raw)


def _form_bool(values: dict[str, list[str]], key: str) -> bool:
    raw = _text(values, key)
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise ir.invalid(key, "must be true or false")


def _form_choice(values: dict[str, list[str]], key: str, allowed: tuple[str, ...]) -> str | None:
    raw = _text(values, key)
    if raw is not None and raw not in allowed:
        raise ir.invalid(key, f"must be one of {', '.join(allowed)}")
    return raw


def _rest(values: dict[str, list[str]], known: frozenset[str]) -> dict[str, Any]:
    return {k: v[-1] if len(v) == 1 else v for k, v in values.items() if k not in known}


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
        model=f.string(body, "model", required=True),  # type: ignore[arg-type]
        input=f.string(body, "input", required=True),  # type: ignore[arg-type]
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
    values = _values(form)
    if "file" in values:
        raise ir.invalid("file", "must be a file upload, not a text field")
    uploads = [u for u in form.files if u.name == "file"]
    if len(uploads) != 1:
        raise ir.invalid("file", "is required" if not uploads else "must be one file")
    upload = uploads[0]
    if not is_audio(upload.head):
        raise ir.invalid("file", "is not an audio file (flac, mp3, mp4, m4a, ogg, wav or webm)")
    granularities = values.get("timestamp_granularities[]") or values.get("timestamp_granularities")
    for value in granularities or ():
        if value not in GRANULARITIES:
            raise ir.invalid("timestamp_granularities", f"must be {' or '.join(GRANULARITIES)}")
    return ir.TranscriptionRequest(
        model=_text(values, "model", required=True),  # type: ignore[arg-type]
        filename=upload.filename,
        content_type=upload.content_type,
        dialect=dialect,
        file=upload,
        native=form.fields,
        language=_text(values, "language"),
        prompt=_text(values, "prompt"),
        response_format=_form_choice(values, "response_format", TRANSCRIPT_FORMATS),
        temperature=_form_number(values, "temperature", 0.0, 1.0),
        timestamp_granularities=granularities,
        stream=_form_bool(values, "stream"),
        extra=_rest(values, _TRANSCRIPT_FIELDS),
    )


def decode_image_request(body: Any, dialect: str, edit: bool) -> ir.ImageRequest:
    """Generation takes JSON; an edit takes multipart with the images (or JSON that references
    them, passed on as it is). The model is required: the gateway routes by it."""
    if not isinstance(body, ir.Form):
        body = f.obj(body, "body")
        return ir.ImageRequest(
            model=f.string(body, "model", required=True),  # type: ignore[arg-type]
            prompt=f.string(body, "prompt", required=True),  # type: ignore[arg-type]
            dialect=dialect,
            n=f.integer(body, "n", minimum=1),
            size=f.string(body, "size"),
            response_format=f.choice(body, "response_format", IMAGE_FORMATS),  # type: ignore[arg-type]
            edit=edit,
            stream=bool(f.boolean(body, "stream")),
            native=body,
            extra=f.rest(body, _IMAGE_FIELDS) or {},
        )
    if not edit:
        raise ir.invalid("body", "must be a JSON object")
    values = _values(body)
    for name in _IMAGE_PARTS:
        if name in values:
            raise ir.invalid(name, "must be a file upload, not a text field")
    if not any(u.name in ("image", "image[]") for u in body.files):
        raise ir.invalid("image", "is required")
    for name in _IMAGE_PARTS:
        parts = [u for u in body.files if u.name == name]
        for index, upload in enumerate(parts):
            if not is_image(upload.head):
                param = f"image[{index}]" if name == "image[]" else name
                raise ir.invalid(param, "is not an image (PNG, JPEG, GIF or WEBP)")
    return ir.ImageRequest(
        model=_text(values, "model", required=True),  # type: ignore[arg-type]
        prompt=_text(values, "prompt", required=True),  # type: ignore[arg-type]
        dialect=dialect,
        n=_form_integer(values, "n"),
        size=_text(values, "size"),
        response_format=_form_choice(values, "response_format", IMAGE_FORMATS),  # type: ignore[arg-type]
        edit=True,
        stream=_form_bool(values, "stream"),
        files=body.files,
        native=body.fields,
        extra=_rest(values, _IMAGE_FIELDS),
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


def image_request(req: ir.ImageRequest, model: str) -> tuple[str, dict[str, Any] | tuple[Fields, list[ir.Upload]]]:
    """Where an image request goes upstream and what it sends: a JSON body, or multipart fields and files."""
    path = "/images/edits" if req.edit else "/images/generations"
    if isinstance(req.native, list):
        return path, (_with_model(req.native, model), list(req.files or ()))
    if req.native is not None:
        return path, {**req.native, "model": model}
    return path, _set({"model": model, "prompt": req.prompt}, n=req.n, size=req.size,
                      response_format=req.response_format, stream=req.stream or None)


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
        return ir.Usage(extra={"characters": len(req.input)})
    if isinstance(req, ir.TranscriptionRequest):
        return ir.Usage(extra={"audio_bytes": req.file.size if req.file else 0})
    return ir.Usage(extra={"images": 0})


def _count(payload: dict[str, Any], usage: ir.Usage) -> None:
    """Add what one upstream answer or event reports: its token usage, and the images it carries."""
    extra = usage.extra if usage.extra is not None else {}
    reported = payload.get("usage")
    if isinstance(reported, dict):
        usage.input_tokens = int(reported.get("input_tokens") or 0)
        usage.output_tokens = int(reported.get("output_tokens") or 0)
        if reported.get("type") == "duration":  # whisper-1 bills seconds of audio
            extra["seconds"] = reported.get("seconds")
    if "images" in extra:
        kind = payload.get("type")
        if isinstance(payload.get("data"), list):
            extra["images"] = len(payload["data"])
        elif isinstance(kind, str) and kind.startswith("image_") and kind.endswith(".completed"):
            extra["images"] += 1
    usage.extra = extra


def usage_of(req: MediaRequest, body: bytes) -> ir.Usage:
    """Usage of a whole answer: the request's own counts, plus what a JSON answer reports."""
    usage = request_usage(req)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:  # text, srt, vtt transcripts carry no usage
        return usage
    if isinstance(payload, dict):
        _count(payload, usage)
    return usage


def is_event_stream(req: MediaRequest) -> bool:
    """Whether the client asked for SSE: streamed transcripts and images, and speech's `sse` format."""
    if isinstance(req, ir.SpeechRequest):
        return req.extra.get("stream_format") == "sse"
    return req.stream


# Streams ------------------------------------------------------------------------------------------


class MediaPassthrough(Passthrough):
    """Forwards a media answer byte for byte, as it arrives.

    Usage starts as what the request tells (characters, audio bytes) and, in an event stream,
    takes the upstream's counts from the events that carry them (`transcript.text.done`,
    `speech.audio.done`, `image_generation.completed`...). Only those events are parsed.
    """

    __slots__ = ("usage", "events", "_splitter")
    media_type = "application/octet-stream"  # when the upstream names none

    def __init__(self, req: MediaRequest) -> None:
        self.usage: ir.Usage | None = request_usage(req)
        self.events = 0
        self._splitter = sse.Splitter() if is_event_stream(req) else None

    def feed(self, chunk: bytes) -> bytes:
        self.events += 1
        if self._splitter is not None:
            self._scan(self._splitter.feed(chunk))
        return chunk

    def close(self) -> bytes:
        if self._splitter is not None:
            self._scan(self._splitter.flush())
        return b""

    def _scan(self, block: bytes) -> None:
        if b'"usage"' not in block and b'.completed"' not in block:
            return
        for _, data in sse.events(block):
            if b'"usage"' in data or b'.completed"' in data:
                try:
                    payload = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(payload, dict):
                    _count(payload, self.usage)  # type: ignore[arg-type]


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
