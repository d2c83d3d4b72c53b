"""The `tika` kind: an Apache Tika server (`docker run apache/tika`, port 9998) as an extraction
backend. The document is PUT to `/rmeta/text`, which answers a JSON array of metadata objects,
the container first and each embedded document after it, each with its text in `X-TIKA:content`
and, for paginated formats, its page count in `xmpTPg:NPages`. Tika reads far more formats than
the embedded reader (old Office files, RTF, EPUB, e-mail), so this kind takes any type; what it
cannot parse it refuses itself (415, or 422 for an encrypted or broken file), and that status
reaches the client. Tika has no authentication of its own; a `key` is sent as a bearer token for
a proxy in front of it.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.documents import reader
from interlingua.adapters.providers.base import stream_pieces
from interlingua.adapters.providers.document_service import DocumentService
from interlingua.adapters.replies import Reply, Result

CONTENT = "X-TIKA:content"
PAGES = "xmpTPg:NPages"


class TikaProvider(DocumentService):
    kind = "tika"

    def __init__(self, name: str, url: str, **kwargs: Any) -> None:
        super().__init__(name, url, **kwargs)
        self.headers = [h for h in self.headers if h[0] != "content-type"]

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def document(self, request: ir.DocumentRequest) -> ir.Upload:
        upload = request.file
        if upload is None:
            raise ir.invalid("file", f"is required: {self.name} reads documents, not text fields")
        return upload  # Tika detects the type itself and refuses what it cannot read

    async def read_document(self, request: ir.DocumentRequest, upload: ir.Upload, model: str) -> Reply:
        headers = [("accept", "application/json"), ("content-length", str(upload.size))]
        if upload.filename:
            headers.append(("content-disposition", f'attachment; filename="{upload.filename}"'))
        response = await self.open("/rmeta/text", stream_pieces([upload]), headers,
                                   content_type=upload.content_type or "application/octet-stream", method="PUT")
        found = self.parse(await self.read(response))
        if not isinstance(found, list) or not found or not all(isinstance(m, dict) for m in found):
            raise ir.GatewayError("upstream", f"upstream {self.name} answered no metadata list")
        text = "\n\n".join(str(m.get(CONTENT) or "").strip() for m in found if str(m.get(CONTENT) or "").strip())
        pages = _integer(found[0].get(PAGES)) or 1
        media_type = str(found[0].get("Content-Type") or upload.content_type).partition(";")[0]
        return Result(reader.finish(ir.Document(text, [ir.Page(n) for n in range(1, pages + 1)], [], media_type),
                                    request.layout))


def _integer(value: Any) -> int | None:
    try:
        return int(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError, IndexError):
        return None
