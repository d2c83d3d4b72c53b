"""What the document services share (Tika, Docling Serve, Azure Document Intelligence, DeepL):
they are no chat models, every model name they are asked by serves their one capability, and they
read the request's document as an upload (a fetched `url` has become one before they are asked).

Errors come back as OpenAI's codec reads them: Azure's `{"error": {"code", "message"}}` is that
shape, and a plain-text error (Tika's) keeps its first 500 characters; a 4xx keeps its status, so
a service's 415 or 422 reaches the client as one.
"""

from __future__ import annotations

import base64
import dataclasses

from interlingua.adapters import ir
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.documents import kinds
from interlingua.adapters.providers.base import Provider, read_upload
from interlingua.adapters.replies import Reply


class DocumentService(Provider):
    codec = CHAT
    chat_path = ""
    capability = "extract"
    takes: tuple[str, ...] = kinds.SUPPORTED  # the formats the service reads

    def capabilities(self, model: str) -> tuple[str, ...]:
        return (self.capability,)

    async def chat(self, request: ir.ChatRequest, model: str) -> Reply:
        raise ir.GatewayError("invalid_request", f"{self.name} is a document service; it does not chat", param="model")

    async def extract(self, request: ir.DocumentRequest, model: str) -> Reply:
        if request.schema is not None:
            raise ir.GatewayError("invalid_request", f"{self.name} extracts text; extracting into a `schema` needs a "
                                  "chat model as `model`", param="model")
        return await self.read_document(request, self.document(request), model)

    async def read_document(self, request: ir.DocumentRequest, upload: ir.Upload, model: str) -> Reply:
        raise self._no("document extraction")

    def document(self, request: ir.DocumentRequest) -> ir.Upload:
        """The request's document labelled with its sniffed type (a copy: a fallback target may
        read the request too), refused with a 415 naming what the service takes when it is not
        one of those formats."""
        upload = request.file
        if upload is None:
            raise ir.invalid("file", f"is required: {self.name} reads documents, not text fields")
        kind = kinds.sniff(upload.file, upload.content_type, upload.filename)
        if kind not in self.takes:
            raise kinds.unsupported(kind, self.takes)
        return dataclasses.replace(upload, content_type=upload.content_type if ";" in upload.content_type else kind)

    @staticmethod
    def base64(upload: ir.Upload) -> str:
        return base64.b64encode(read_upload(upload)).decode()
