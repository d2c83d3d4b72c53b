"""Fake document services on 127.0.0.1, each speaking its real API as its documentation gives it,
and recording what they received: Apache Tika server (`PUT /rmeta/text`), Docling Serve (`POST
/v1/convert/file`), Azure AI Document Intelligence (analyze, 202 and `Operation-Location`, polled)
and DeepL (`/v2/translate` and the document upload, status and result calls).

They read a text document's bytes as its text (so a test sees that the bytes arrived) and report
any other document by its size; they refuse what the real service refuses: a missing key (Azure
401, DeepL 403), a missing `target_lang` (DeepL 400), a type they do not take (Tika 415).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.pacing import Streaming

AZURE_KEY = "azure-secret"
DEEPL_KEY = "deepl-secret:fx"


@dataclass(slots=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    form: dict[str, Any] = field(default_factory=dict)  # multipart fields; a file as (filename, type, bytes)


def _text_of(body: bytes, content_type: str) -> str:
    if content_type.startswith("text/"):
        return body.decode()
    return f"{len(body)} bytes of {content_type}"


async def _form(request: web.Request) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async for part in await request.multipart():
        if part.filename is not None:  # type: ignore[union-attr]
            found[part.name or ""] = (part.filename, part.headers.get("content-type", ""),  # type: ignore[union-attr]
                                      bytes(await part.read()))  # type: ignore[union-attr]
        else:
            found.setdefault(part.name or "", []).append(await part.text())  # type: ignore[union-attr]
    return found


class _Fake(Streaming):
    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self.disconnects = 0

    async def _start(self, app: web.Application) -> None:
        self.url = await self.serve(app)

    async def _record(self, request: web.Request, multipart: bool = False) -> Received:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if multipart:
            received = Received(request.method, request.path_qs, headers, b"", await _form(request))
        else:
            received = Received(request.method, request.path_qs, headers, await request.read())
        self.received.append(received)
        return received


class FakeTika(_Fake):
    """Tika's recursive metadata endpoint: a JSON array, the container's metadata first."""

    async def __aenter__(self) -> FakeTika:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_put("/rmeta/text", self._rmeta)
        await self._start(app)
        return self

    async def _rmeta(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        content_type = request.headers.get("content-type", "application/octet-stream").partition(";")[0]
        if content_type == "application/x-unknown":
            return web.Response(status=415, text="Unsupported Media Type")
        metadata = {"Content-Type": content_type, "X-TIKA:content": _text_of(received.body, content_type),
                    "X-TIKA:Parsed-By": ["org.apache.tika.parser.DefaultParser"]}
        if content_type == "application/pdf":
            metadata["xmpTPg:NPages"] = "3"
        return web.json_response([metadata, {"Content-Type": "image/png", "X-TIKA:content": ""}])


class FakeDocling(_Fake):
    """Docling Serve's synchronous file conversion."""

    async def __aenter__(self) -> FakeDocling:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/convert/file", self._convert)
        await self._start(app)
        return self

    async def _convert(self, request: web.Request) -> web.Response:
        received = await self._record(request, multipart=True)
        if "files" not in received.form:
            return web.json_response({"detail": [{"type": "missing", "loc": ["body", "files"]}]}, status=422)
        filename, content_type, body = received.form["files"]
        formats = received.form.get("to_formats", ["md"])
        text = _text_of(body, content_type)
        document: dict[str, Any] = {"filename": filename, "md_content": f"## {filename}\n\n{text}" if "md" in formats
                                    else None, "json_content": None, "html_content": None, "text_content": None,
                                    "doctags_content": None}
        if "json" in formats:
            document["json_content"] = {
                "schema_name": "DoclingDocument", "version": "1.3.0", "name": filename,
                "pages": {"1": {"size": {"width": 612.0, "height": 792.0}, "page_no": 1}},
                "texts": [
                    {"self_ref": "#/texts/0", "label": "section_header", "text": filename,
                     "prov": [{"page_no": 1, "bbox": {"l": 72.0, "t": 720.0, "r": 300.0, "b": 700.0,
                                                      "coord_origin": "BOTTOMLEFT"}, "charspan": [0, len(filename)]}]},
                    {"self_ref": "#/texts/1", "label": "checkbox_selected", "text": "Agreed",
                     "prov": [{"page_no": 1, "bbox": {"l": 72.0, "t": 600.0, "r": 84.0, "b": 588.0,
                                                      "coord_origin": "BOTTOMLEFT"}, "charspan": [0, 6]}]},
                ]}
        return web.json_response({"document": document, "status": "success", "errors": [], "processing_time": 0.01,
                                  "timings": {}})


class FakeAzureDocument(_Fake):
    """Document Intelligence's analyze operation: 202 and an Operation-Location polled to its end."""

    def __init__(self, polls_running: int = 1) -> None:
        super().__init__()
        self.polls_running = polls_running
        self._ids = itertools.count(1)
        self._results: dict[str, tuple[int, dict[str, Any]]] = {}

    async def __aenter__(self) -> FakeAzureDocument:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/documentintelligence/documentModels/{model}:analyze", self._analyze)
        app.router.add_get("/documentintelligence/documentModels/{model}/analyzeResults/{id}", self._result)
        await self._start(app)
        return self

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("ocp-apim-subscription-key") != AZURE_KEY:
            return web.json_response({"error": {"code": "401", "message": "Access denied due to invalid subscription "
                                                "key or wrong API endpoint."}}, status=401)
        if request.query.get("api-version") != "2024-11-30":
            return web.json_response({"error": {"code": "InvalidRequest", "message": "Invalid request.",
                                                "innererror": {"code": "UnsupportedApiVersion"}}}, status=400)
        return None

    async def _analyze(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        model = request.match_info["model"]
        content_type = request.headers.get("content-type", "")
        result_id = f"result-{next(self._ids)}"
        if not received.body or received.body.startswith(b"%PDF-broken"):
            outcome: dict[str, Any] = {"status": "failed", "error": {"code": "InvalidContent",
                                                                      "message": "The file is corrupted or format is "
                                                                                 "unsupported."}}
        else:
            text = _text_of(received.body, content_type) if content_type.startswith("text/") else "Invoice 4711"
            outcome = {"status": "succeeded", "analyzeResult": {
                "apiVersion": "2024-11-30", "modelId": model, "stringIndexType": "textElements", "content": text,
                "pages": [{"pageNumber": 1, "angle": 0, "width": 8.5, "height": 11, "unit": "inch",
                           "spans": [{"offset": 0, "length": len(text)}],
                           "words": [{"content": text, "polygon": [1, 1, 3, 1, 3, 1.2, 1, 1.2], "confidence": 0.99,
                                      "span": {"offset": 0, "length": len(text)}}],
                           "lines": [{"content": text, "polygon": [1, 1, 3, 1, 3, 1.2, 1, 1.2],
                                      "spans": [{"offset": 0, "length": len(text)}]}],
                           "selectionMarks": [{"state": "selected", "polygon": [4, 1, 4.2, 1, 4.2, 1.2, 4, 1.2],
                                               "confidence": 0.95, "span": {"offset": 0, "length": 0}}]}]}}
        self._results[result_id] = (self.polls_running, outcome)
        location = (f"{self.url}/documentintelligence/documentModels/{model}/analyzeResults/{result_id}"
                    "?api-version=2024-11-30")
        return web.Response(status=202, headers={"operation-location": location, "retry-after": "0"})

    async def _result(self, request: web.Request) -> web.Response:
        await self._record(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        running, outcome = self._results[request.match_info["id"]]
        times = {"createdDateTime": "2026-12-05T12:00:00Z", "lastUpdatedDateTime": "2026-12-05T12:00:01Z"}
        if running:
            self._results[request.match_info["id"]] = (running - 1, outcome)
            return web.json_response({"status": "running", **times}, headers={"retry-after": "0"})
        return web.json_response({**outcome, **times})


class FakeDeepL(_Fake):
    """DeepL's text translation and its three-step document translation; the translation of a
    text is the text upper-cased with the target language in front."""

    def __init__(self) -> None:
        super().__init__()
        self._documents: dict[str, tuple[str, str, bytes, int]] = {}
        self._ids = itertools.count(1)

    async def __aenter__(self) -> FakeDeepL:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v2/translate", self._translate)
        app.router.add_post("/v2/document", self._upload)
        app.router.add_post("/v2/document/{id}", self._status)
        app.router.add_post("/v2/document/{id}/result", self._download)
        await self._start(app)
        return self

    @staticmethod
    def translated(text: str, target: str) -> str:
        return f"[{target}] {text.upper()}"

    @staticmethod
    def _refused(request: web.Request) -> web.Response | None:
        if request.headers.get("authorization") != f"DeepL-Auth-Key {DEEPL_KEY}":
            return web.json_response({"message": "Wrong endpoint. Use https://api.deepl.com"}, status=403)
        return None

    async def _translate(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = orjson.loads(received.body)
        if not body.get("target_lang"):
            return web.json_response({"message": "Value for 'target_lang' not supported."}, status=400)
        return web.json_response({"translations": [
            {"detected_source_language": "EN", "text": self.translated(t, body["target_lang"])} for t in body["text"]]})

    async def _upload(self, request: web.Request) -> web.Response:
        received = await self._record(request, multipart=True)
        refused = self._refused(request)
        if refused is not None:
            return refused
        if "target_lang" not in received.form or "file" not in received.form:
            return web.json_response({"message": "Parameter 'target_lang' or 'file' not specified."}, status=400)
        filename, content_type, body = received.form["file"]
        document_id = f"D{next(self._ids):04d}"
        self._documents[document_id] = (f"K{document_id}", received.form["target_lang"][-1], body, 1)
        return web.json_response({"document_id": document_id, "document_key": f"K{document_id}"})

    def _document(self, request: web.Request, received: Received) -> tuple[str, str, bytes, int] | web.Response:
        document = self._documents.get(request.match_info["id"])
        if document is None or orjson.loads(received.body).get("document_key") != document[0]:
            return web.json_response({"message": "Document not found"}, status=404)
        return document

    async def _status(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        document = self._refused(request) or self._document(request, received)
        if isinstance(document, web.Response):
            return document
        key, target, body, pending = document
        if pending:
            self._documents[request.match_info["id"]] = (key, target, body, pending - 1)
            return web.json_response({"document_id": request.match_info["id"], "status": "translating",
                                      "seconds_remaining": 0})
        return web.json_response({"document_id": request.match_info["id"], "status": "done",
                                  "billed_characters": 50000})

    async def _download(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        document = self._refused(request) or self._document(request, received)
        if isinstance(document, web.Response):
            return document
        _, target, body, _ = document
        return web.Response(body=f"translated to {target}: ".encode() + body,
                            content_type="application/octet-stream")
