"""The gateway's own utility APIs, client side: `POST /v1/render`, `/v1/transcribe`, the document
utilities `/v1/extract`, `/v1/segment`, `/v1/summarize` and `/v1/translate` (`documents.py`), and
the retrieval forms, search, rerank and research (`retrieval.py`).

Each is one model call asked with a plain form (or JSON) and answered with the thing itself where
it can be, for scripts, `curl -F` and HTML forms. Render and transcribe are the existing requests,
served by the same providers and the dispatcher's relay as OpenAI's endpoints:

- `render` is an `ir.ImageRequest`: `model`, `prompt` (or `input`), and reference images as `file`
  parts, which make it an edit. It is answered with the image's bytes, of the type `Accept` prefers
  among PNG (the default), JPEG and WEBP where the upstream can choose (`output_format`), else as
  the upstream made it; the content type always says what the bytes are.
- `transcribe` is an `ir.TranscriptionRequest`: `file`, `model`, `language`, and `instructions`,
  which is the transcription's prompt. It is answered with the transcript as text/plain.

The document utilities are an `ir.DocumentRequest` (decoded in `documents.py`), answered with an
`ir.Document` (text/plain, or with `Accept: application/json` the document with its pages and
blocks), `ir.Segments` (a JSON list) or `ir.Rendered` (a summary, a translation, a JSON object
that fits a schema: bytes of their own type).

Providers answer these in IR (`ir.ImageResponse`, `ir.Transcript`), since the answer is not the
upstream's bytes. Errors are OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, `type`
being the gateway's kind of error, with the status. The dialect is no upstream's, so the upstream side is refused.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import documents, forms, retrieval
from interlingua.adapters.dialects import openai_media as media
from interlingua.adapters.dialects.base import ClientDialect, Passthrough, Route, StreamEncoder

_ROUTES = {"/v1/render": ops.RENDER, "/v1/transcribe": ops.TRANSCRIBE, "/v1/extract": ops.EXTRACT,
           "/v1/segment": ops.SEGMENT, "/v1/summarize": ops.SUMMARIZE, "/v1/translate": ops.TRANSLATE,
           **retrieval.ROUTES}
_DOCUMENTS = frozenset({ops.EXTRACT, ops.SEGMENT, ops.SUMMARIZE, ops.TRANSLATE})
_RENDER_FIELDS = frozenset({"model", "prompt", "input", "file"})
_TRANSCRIBE_FIELDS = frozenset({"model", "language", "instructions", "file"})
# What `Accept` may choose, PNG first: it wins a tie, and is what every image upstream makes.
_IMAGE_TYPES = {"image/png": None, "image/jpeg": "jpeg", "image/webp": "webp"}


def _form(body: Any, known: frozenset[str]) -> tuple[ir.Form, forms.Values]:
    """The form and its text fields; a field the form does not take is refused, not ignored."""
    if not isinstance(body, ir.Form):
        raise ir.invalid("body", "must be a form: multipart/form-data, or url-encoded when it has no files")
    values = forms.values(body)
    for name in [*values, *(u.name for u in body.files)]:
        if name not in known:
            raise ir.invalid(name, f"is not a field of this form (it takes {', '.join(sorted(known))})")
    return body, values


def output_format(accept: str) -> str | None:
    """The image type `Accept` prefers, by quality value, as `output_format`; None for PNG."""
    ranges = forms.accept_ranges(accept)

    def wanted(image_type: str) -> float:
        for key in (image_type, "image/*", "*/*"):
            if key in ranges:
                return ranges[key]
        return 0.0

    return _IMAGE_TYPES[max(_IMAGE_TYPES, key=wanted)] if ranges else None


def decode_render(body: Any, headers: Mapping[bytes, bytes]) -> ir.ImageRequest:
    form, values = _form(body, _RENDER_FIELDS)
    model = forms.text(values, "model", required=True)
    prompt = forms.text(values, "prompt") or forms.text(values, "input")
    if prompt is None:
        raise ir.invalid("prompt", "is required (or `input`)")
    files = forms.images(form, values, "file")
    return ir.ImageRequest(
        model=model,
        prompt=prompt,
        dialect=CODEC.name,
        response_format="b64_json",  # the bytes are the answer, so a link will not do
        output_format=output_format(headers.get(b"accept", b"").decode("latin-1")),
        edit=bool(files),
        files=files or None,
    )


def decode_transcribe(body: Any) -> ir.TranscriptionRequest:
    form, values = _form(body, _TRANSCRIBE_FIELDS)
    upload = forms.audio(form, values)
    return ir.TranscriptionRequest(
        model=forms.text(values, "model", required=True),
        filename=upload.filename,
        content_type=upload.content_type,
        dialect=CODEC.name,
        file=upload,
        language=forms.text(values, "language"),
        prompt=forms.text(values, "instructions"),
        response_format="json",  # what the transcript is read from
    )


def encode_error_body(error: ir.GatewayError) -> bytes:
    return orjson.dumps({"error": {"message": error.message, "type": error.kind, "param": error.param,
                                   "code": error.code}})


def encode_document(document: ir.Document) -> bytes:
    return orjson.dumps({
        "text": document.text,
        "pages": [{"page": p.page, "unit": p.unit, "width": p.width, "height": p.height} for p in document.pages],
        "blocks": [{"page": b.page, "text": b.text, "state": b.state, "score": b.score, "polygon": b.polygon}
                   for b in document.blocks],
    })


UtilityRequest = (ir.ImageRequest | ir.TranscriptionRequest | ir.DocumentRequest | ir.SearchRequest
                  | ir.RerankRequest | ir.ResearchRequest)


class Utility(ClientDialect[UtilityRequest]):
    """Answers with the thing itself (image bytes, a transcript's text), errors in OpenAI's shape."""

    name = "utility"

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        operation = _ROUTES.get(path)
        if operation is None or method != "POST":
            return None
        return Route(operation, documents.query_params(query) if operation in _DOCUMENTS else {})

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> UtilityRequest:
        if operation in _DOCUMENTS:
            return documents.decode(operation, body, headers, params)
        if operation is ops.SEARCH:
            return retrieval.decode_search(body, self.name)
        if operation is ops.RERANK:
            return retrieval.decode_rerank(body, self.name)
        if operation is ops.RESEARCH:
            return retrieval.decode_research(body, headers, self.name)
        return decode_render(body, headers) if operation is ops.RENDER else decode_transcribe(body)

    def encode_result(self, result: Any, request: UtilityRequest) -> bytes:
        payload = retrieval.PAYLOADS.get(type(result))
        if payload is not None:
            return orjson.dumps(payload(result, request))
        if isinstance(result, ir.ImageResponse):
            return base64.b64decode(result.images[0].data or "")  # one image: the first the upstream made
        if isinstance(result, ir.Transcript):
            return result.text.encode()
        if isinstance(result, ir.Document):
            layout = isinstance(request, ir.DocumentRequest) and request.layout
            return encode_document(result) if layout else result.text.encode()
        if isinstance(result, ir.Segments):
            return orjson.dumps([{"text": s.text, "start": s.start, "end": s.end} for s in result.segments])
        if isinstance(result, ir.Rendered):
            return result.body
        raise TypeError(f"no utility encoding for {type(result).__name__}")

    def result_type(self, result: Any, request: UtilityRequest) -> str:
        if type(result) in retrieval.PAYLOADS:
            return "application/json"
        if isinstance(result, ir.ImageResponse):
            return result.images[0].media_type or "application/octet-stream"
        if isinstance(result, ir.Rendered):
            return result.media_type
        if isinstance(result, ir.Segments) or (
                isinstance(result, ir.Document) and isinstance(request, ir.DocumentRequest) and request.layout):
            return "application/json"
        return "text/plain; charset=utf-8"

    def stream_encoder(self, request: UtilityRequest) -> StreamEncoder:
        if isinstance(request, ir.ResearchRequest):
            return retrieval.ResearchStream(encode_error_body)
        if isinstance(request, ir.ImageRequest | ir.TranscriptionRequest):
            return media.MediaStreamEncoder(request, encode_error_body)  # answers are whole: an error just ends them
        raise TypeError(f"{type(request).__name__} is never answered as a stream")

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return encode_error_body(error)

    def passthrough(self, request: UtilityRequest) -> Passthrough:
        raise TypeError("utility answers are rendered from IR, never passed through")


CODEC = Utility()
