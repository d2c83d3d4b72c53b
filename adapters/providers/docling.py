"""The `docling` kind: Docling Serve (`docling-serve run`, port 5001) as an extraction backend,
for layout-aware conversion with table structure and its own OCR. The document goes as the
multipart field `files` to `POST /v1/convert/file`, asking `to_formats` `md` (and `json` when the
client wants the layout); the answer is `{"document": {"md_content", "json_content", ...},
"status", "errors": [{"component_type", "module_name", "error_message"}], "processing_time"}`.
The text is the Markdown. The layout comes from the DoclingDocument in `json_content`: `pages`
(each `size` in points) and `texts`, each placed by its `prov` bounding boxes (origin bottom left
or top left, as `coord_origin` says), check boxes labelled `checkbox_selected` or
`checkbox_unselected`. A `key` goes in Docling Serve's `X-Api-Key` header.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds, reader
from interlingua.adapters.providers.document_service import DocumentService
from interlingua.adapters.replies import Reply, Result

# What Docling Serve converts (its `from_formats`: docx, pptx, html, image, pdf, asciidoc, md, xlsx, csv).
TAKES = (kinds.PDF, kinds.DOCX, kinds.PPTX, kinds.XLSX, kinds.HTML, kinds.MARKDOWN, kinds.CSV, *kinds.IMAGES)
_CHECKBOXES = {"checkbox_selected": "checked", "checkbox_unselected": "unchecked"}


class DoclingProvider(DocumentService):
    kind = "docling"
    takes = TAKES

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"x-api-key": key} if key else {}

    async def read_document(self, request: ir.DocumentRequest, upload: ir.Upload, model: str) -> Reply:
        formats = [("to_formats", "md"), *([("to_formats", "json")] if request.layout else [])]
        upload = dataclasses.replace(upload, name="files", filename=upload.filename or "document")
        response = await self.upload("/v1/convert/file", formats, [upload])
        answer = self.parse(await self.read(response))
        document = answer.get("document") if isinstance(answer, dict) else None
        if not isinstance(document, dict):
            raise ir.GatewayError("upstream", f"upstream {self.name} answered no document")
        if answer.get("status") not in ("success", "partial_success"):
            errors = [str(e.get("error_message", "")) for e in answer.get("errors") or [] if isinstance(e, dict)]
            raise ir.GatewayError("invalid_request", f"file: {self.name} could not convert the document: "
                                  f"{'; '.join(errors) or answer.get('status')}", param="file", status=422,
                                  code="corrupt_document")
        with self.reading():
            pages, blocks = _layout(document.get("json_content")) if request.layout else ([], [])
        text = str(document.get("md_content") or "")
        return Result(reader.finish(ir.Document(text, pages or [ir.Page(1)], blocks, upload.content_type),
                                    request.layout))


def _layout(content: Any) -> tuple[list[ir.Page], list[ir.Block]]:
    """Pages and placed texts of a DoclingDocument, in points from the top left."""
    if not isinstance(content, dict):
        return [], []
    heights: dict[int, float] = {}
    pages: list[ir.Page] = []
    for page in (content.get("pages") or {}).values():
        size = page.get("size") or {}
        number = int(page.get("page_no", len(pages) + 1))
        heights[number] = float(size.get("height", 0))
        pages.append(ir.Page(number, "point", float(size.get("width", 0)), heights[number]))
    blocks = []
    for item in content.get("texts") or []:
        for prov in item.get("prov") or []:
            number = int(prov.get("page_no", 1))
            box = prov.get("bbox") or {}
            left, right = float(box.get("l", 0)), float(box.get("r", 0))
            top, bottom = float(box.get("t", 0)), float(box.get("b", 0))
            if box.get("coord_origin", "BOTTOMLEFT") == "BOTTOMLEFT":
                top, bottom = heights.get(number, 0) - top, heights.get(number, 0) - bottom
            polygon = [[left, top], [right, top], [right, bottom], [left, bottom]]
            blocks.append(ir.Block(number, str(item.get("text", "")), polygon, _CHECKBOXES.get(item.get("label", ""))))
    return sorted(pages, key=lambda p: p.page), blocks
