"""The `azure-document-intelligence` kind: Azure AI Document Intelligence (REST API 2024-11-30),
the OCR service whose answer places every line by its polygon. The model is the analyzer:
`prebuilt-read` (text) or `prebuilt-layout` (text, tables and selection marks).

The document is posted as raw bytes to `/documentintelligence/documentModels/{model}:analyze`,
which answers 202 with an `Operation-Location` to poll (GET, after `Retry-After` seconds) until
its `status` is `succeeded` or `failed`. The result's `analyzeResult` has the text (`content`)
and `pages`, each with `pageNumber`, `width`, `height`, `unit` (inch for PDF, pixel for images),
`lines` (`content`, `polygon` as a flat list of x, y) and `selectionMarks` (`state` selected or
unselected, `polygon`, `confidence`). The key goes in `Ocp-Apim-Subscription-Key`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds, reader
from interlingua.adapters.providers.base import stream_pieces
from interlingua.adapters.providers.document_service import DocumentService
from interlingua.adapters.replies import Reply, Result

API_VERSION = "2024-11-30"
# What the service reads: PDF, images (JPEG, PNG, BMP, TIFF, HEIF) and Office and HTML files.
TAKES = (kinds.PDF, kinds.DOCX, kinds.PPTX, kinds.XLSX, kinds.HTML, "image/png", "image/jpeg", "image/bmp",
         "image/tiff")
POLL_SECONDS = 1.0
_STATES = {"selected": "checked", "unselected": "unchecked"}


class AzureDocumentProvider(DocumentService):
    kind = "azure-document-intelligence"
    takes = TAKES

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"ocp-apim-subscription-key": key} if key else {}

    async def read_document(self, request: ir.DocumentRequest, upload: ir.Upload, model: str) -> Reply:
        path = f"/documentintelligence/documentModels/{model}:analyze?api-version={API_VERSION}"
        response = await self.open(path, stream_pieces([upload]), [("content-length", str(upload.size))],
                                   content_type="application/octet-stream")
        await self.read(response)
        location = response.headers.get("operation-location", "")
        if not location.startswith(self.url + "/"):  # polled with the key: never anywhere else
            raise ir.GatewayError("upstream", f"upstream {self.name} answered no Operation-Location of its own")
        deadline = time.monotonic() + self.timeout["read"]
        wait = _seconds(response.headers.get("retry-after"))
        while True:
            await asyncio.sleep(wait)
            polled = await self.open(location.removeprefix(self.url), b"", method="GET")
            wait = _seconds(polled.headers.get("retry-after"))
            state = self.parse(await self.read(polled))
            status = state.get("status") if isinstance(state, dict) else None
            with self.reading():
                if status == "succeeded":
                    return Result(_document(state.get("analyzeResult") or {}, upload.content_type, request.layout))
                if status == "failed":
                    error = state.get("error") or {}
                    raise ir.GatewayError("invalid_request", f"file: {self.name} could not analyze the document: "
                                          f"{error.get('message', 'failed')} ({error.get('code', '')})",
                                          param="file", status=422, code="corrupt_document")
            if time.monotonic() > deadline:
                raise ir.GatewayError("timeout", f"upstream {self.name} did not finish the analysis in time",
                                      retryable=True)


def _seconds(value: str | None) -> float:
    try:
        return min(max(float(value or POLL_SECONDS), 0.0), 10.0)
    except ValueError:
        return POLL_SECONDS


def _polygon(flat: Any) -> list[list[float]] | None:
    if not isinstance(flat, list) or len(flat) % 2:
        return None
    return [[float(flat[i]), float(flat[i + 1])] for i in range(0, len(flat), 2)]


def _document(result: dict[str, Any], media_type: str, layout: bool) -> ir.Document:
    pages: list[ir.Page] = []
    blocks: list[ir.Block] = []
    for page in result.get("pages") or []:
        number = int(page.get("pageNumber", len(pages) + 1))
        pages.append(ir.Page(number, page.get("unit"), page.get("width"), page.get("height")))
        for line in page.get("lines") or []:
            blocks.append(ir.Block(number, str(line.get("content", "")), _polygon(line.get("polygon"))))
        for mark in page.get("selectionMarks") or []:
            blocks.append(ir.Block(number, "", _polygon(mark.get("polygon")), _STATES.get(mark.get("state", "")),
                                   mark.get("confidence")))
    document = ir.Document(str(result.get("content") or ""), pages or [ir.Page(1)], blocks, media_type)
    return reader.finish(document, layout)
