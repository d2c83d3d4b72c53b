"""The `deepl` kind: DeepL as a translation backend, for text and for whole documents.

Text (and Markdown, CSV and text files) goes to `POST /v2/translate` as JSON `{"text": [...],
"target_lang"}`, answered with `{"translations": [{"detected_source_language", "text"}]}`.
A DOCX, PPTX, XLSX, PDF or HTML file
goes to the document API and comes back as a file of its own type: `POST /v2/document`
(multipart `file` and `target_lang`) gives `{"document_id", "document_key"}`; `POST
/v2/document/{id}` with the key is polled until its `status` is `done` (or `error`, with an
`error_message`); `POST /v2/document/{id}/result` gives the translated file. The key goes in
`Authorization: DeepL-Auth-Key ...`; the URL is https://api.deepl.com (or api-free.deepl.com).

DeepL wants a target language code: a name (German) or a bare code (de) is mapped to it;
English and Portuguese need a variant, so `en` is EN-US and `pt` PT-PT unless the variant is given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import orjson

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds
from interlingua.adapters.documents import text as plain
from interlingua.adapters.providers.document_service import DocumentService
from interlingua.adapters.replies import Reply, Result

DOCUMENTS = (kinds.DOCX, kinds.PPTX, kinds.XLSX, kinds.PDF, kinds.HTML)
TEXTS = (kinds.TEXT, kinds.MARKDOWN, kinds.CSV)
POLL_SECONDS = 1.0
_NAMES = {"arabic": "AR", "bulgarian": "BG", "chinese": "ZH", "czech": "CS", "danish": "DA", "dutch": "NL",
          "english": "EN-US", "estonian": "ET", "finnish": "FI", "french": "FR", "german": "DE", "greek": "EL",
          "hungarian": "HU", "indonesian": "ID", "italian": "IT", "japanese": "JA", "korean": "KO", "latvian": "LV",
          "lithuanian": "LT", "norwegian": "NB", "polish": "PL", "portuguese": "PT-PT", "romanian": "RO",
          "russian": "RU", "slovak": "SK", "slovenian": "SL", "spanish": "ES", "swedish": "SV", "turkish": "TR",
          "ukrainian": "UK"}
_VARIANTS = {"EN": "EN-US", "PT": "PT-PT"}


def target_language(language: str) -> str:
    """DeepL's code for a language given by name or code; 400 for a name it does not know."""
    named = _NAMES.get(language.strip().lower())
    if named:
        return named
    code = language.strip().upper().replace("_", "-")
    if code.replace("-", "").isalpha() and 2 <= len(code.partition("-")[0]) <= 3:
        return _VARIANTS.get(code, code)
    raise ir.invalid("language", f"{language!r} is no language DeepL knows; give a code such as DE or PT-BR")


class DeepLProvider(DocumentService):
    kind = "deepl"
    capability = "translate"
    takes = (*DOCUMENTS, *TEXTS)

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"DeepL-Auth-Key {key}"} if key else {}

    async def translate(self, request: ir.DocumentRequest, model: str) -> Reply:
        target = target_language(request.language or "")
        if request.text is not None:
            translated = await self._text(request.text, target)
            return Result(ir.Rendered(translated.encode(), "text/plain; charset=utf-8",
                                      ir.Usage(characters=len(request.text))))
        upload = self.document(request)
        kind = upload.content_type.partition(";")[0]
        if kind in TEXTS:
            upload.file.seek(0)
            source = plain.decode(upload.file.read(), plain.charset_of(upload.content_type))
            translated = await self._text(source, target)
            return Result(ir.Rendered(translated.encode(), f"{kind}; charset=utf-8", ir.Usage(characters=len(source))))
        body, billed = await self._document(upload, target)
        return Result(ir.Rendered(body, kind, ir.Usage(characters=billed, pages=0)))

    async def _text(self, text: str, target: str) -> str:
        payload = {"text": [text], "target_lang": target}
        answer = self.parse(await self.read(await self.open("/v2/translate", orjson.dumps(payload))))
        try:
            return "".join(str(t["text"]) for t in answer["translations"])
        except (KeyError, TypeError):
            raise ir.GatewayError("upstream", f"upstream {self.name} answered no translations") from None

    async def _document(self, upload: ir.Upload, target: str) -> tuple[bytes, int]:
        """Upload, poll until done, download: the translated file and the characters billed."""
        started = self.parse(await self.read(await self.upload("/v2/document", [("target_lang", target)],
                                                               [_named("file", upload)])))
        try:
            document_id, key = str(started["document_id"]), str(started["document_key"])
        except (KeyError, TypeError):
            raise ir.GatewayError("upstream", f"upstream {self.name} answered no document id") from None
        body = orjson.dumps({"document_key": key})
        deadline = time.monotonic() + self.timeout["read"]
        while True:
            state = self.parse(await self.read(await self.open(f"/v2/document/{document_id}", body)))
            status = state.get("status") if isinstance(state, dict) else None
            if status == "done":
                result = await self.read(await self.open(f"/v2/document/{document_id}/result", body))
                return result, int(state.get("billed_characters") or 0)
            if status == "error":
                raise ir.GatewayError("invalid_request", f"file: {self.name} could not translate the document: "
                                      f"{state.get('error_message', 'error')}", param="file", status=422)
            if time.monotonic() > deadline:
                raise ir.GatewayError("timeout", f"upstream {self.name} did not finish the translation in time",
                                      retryable=True)
            remaining = state.get("seconds_remaining")
            await asyncio.sleep(min(float(remaining) if isinstance(remaining, int | float) else POLL_SECONDS, 5.0))


def _named(name: str, upload: ir.Upload) -> ir.Upload:
    """The upload as the multipart field `name`, with a file name DeepL can tell the type from."""
    filename = upload.filename or "document" + _EXTENSIONS.get(upload.content_type.partition(";")[0], "")
    return dataclasses.replace(upload, name=name, filename=filename)


_EXTENSIONS = {kinds.DOCX: ".docx", kinds.PPTX: ".pptx", kinds.XLSX: ".xlsx", kinds.PDF: ".pdf", kinds.HTML: ".html"}
