"""The remote document backends through the whole gateway, each against a fake that speaks its
real API (tests/fakes/document_services.py): Tika, Docling Serve and Azure Document Intelligence
for /v1/extract, DeepL for /v1/translate. `model` picks them by provider name, or [utilities]
names one as the default."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import docx
import httpx
import pytest

from interlingua.adapters import ir
from interlingua.adapters.providers.deepl import target_language
from tests.documents import text_pdf
from tests.fakes.document_services import AZURE_KEY, DEEPL_KEY, FakeAzureDocument, FakeDeepL, FakeDocling, FakeTika
from tests.harness import gateway
from tests.support import async_test

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@asynccontextmanager
async def through(data_dir: Path, providers: dict[str, Any], **tables: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(data_dir, providers=providers, **tables) as (_, url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield http


def docx_bytes(text: str) -> bytes:
    made = docx.Document()
    made.add_paragraph(text)
    out = io.BytesIO()
    made.save(out)
    return out.getvalue()


@async_test
async def test_tika_reads_documents_and_its_refusals_reach_the_client(tmp_path: Path) -> None:
    async with FakeTika() as tika, through(tmp_path, {"tika": {"type": "tika", "url": tika.url}},
                                           utilities={"extract": "tika/default"}) as http:
        text = await http.post("/v1/extract", files={"file": ("notes.txt", b"Plain notes.", "text/plain")})
        pdf = await http.post("/v1/extract", content=text_pdf(1, 1), headers={"content-type": "application/pdf",
                                                                              "accept": "application/json"})
        unknown = await http.post("/v1/extract", content=b"\x00\x01",
                                  headers={"content-type": "application/x-unknown"})
    assert text.status_code == 200 and text.text == "Plain notes."
    assert text.headers["x-interlingua-upstream"] == "tika/default"
    assert (tika.received[0].method, tika.received[0].path) == ("PUT", "/rmeta/text")
    assert tika.received[0].headers["content-type"] == "text/plain" and tika.received[0].body == b"Plain notes."
    assert [p["page"] for p in pdf.json()["pages"]] == [1, 2, 3]  # xmpTPg:NPages
    assert unknown.status_code == 415


@async_test
async def test_docling_gives_markdown_and_the_layout_with_check_boxes(tmp_path: Path) -> None:
    async with FakeDocling() as docling, through(tmp_path, {"docling": {"type": "docling", "url": docling.url,
                                                                        "key": "docling-key"}}) as http:
        plain = await http.post("/v1/extract", data={"model": "docling/standard"},
                                files={"file": ("memo.md", b"Memo text.", "text/markdown")})
        layout = await http.post("/v1/extract", data={"model": "docling/standard"},
                                 headers={"accept": "application/json"},
                                 files={"file": ("form.pdf", text_pdf(1, 1), "application/pdf")})
        refused = await http.post("/v1/extract", data={"model": "docling/standard"},
                                  files={"file": ("data.json", b'{"a": 1}', "application/json")})
    assert plain.text == "## memo.md\n\nMemo text."
    first = docling.received[0]
    assert first.form["to_formats"] == ["md"] and first.form["files"][:2] == ("memo.md", "text/markdown")
    assert first.headers["x-api-key"] == "docling-key"
    assert docling.received[1].form["to_formats"] == ["md", "json"]
    document = layout.json()
    assert document["pages"] == [{"page": 1, "unit": "point", "width": 612.0, "height": 792.0}]
    assert document["blocks"][0]["polygon"] == [[72.0, 72.0], [300.0, 72.0], [300.0, 92.0], [72.0, 92.0]]
    assert (document["blocks"][1]["text"], document["blocks"][1]["state"]) == ("Agreed", "checked")
    assert refused.status_code == 415 and "application/pdf" in refused.json()["error"]["message"]


@async_test
async def test_azure_document_intelligence_polls_and_places_lines(tmp_path: Path) -> None:
    providers = {"azure": {"type": "azure-document-intelligence", "url": "", "key": AZURE_KEY}}
    async with FakeAzureDocument(polls_running=2) as azure:
        providers["azure"]["url"] = azure.url
        async with through(tmp_path, providers) as http:
            result = await http.post("/v1/extract", data={"model": "azure/prebuilt-layout"},
                                     headers={"accept": "application/json"},
                                     files={"file": ("scan.pdf", text_pdf(1, 1), "application/pdf")})
            broken = await http.post("/v1/extract", data={"model": "azure/prebuilt-read"},
                                     files={"file": ("a.pdf", b"%PDF-broken", "application/pdf")})
    assert result.status_code == 200
    document = result.json()
    assert document["text"] == "Invoice 4711"
    assert document["pages"] == [{"page": 1, "unit": "inch", "width": 8.5, "height": 11}]
    line, mark = document["blocks"]
    assert line["polygon"] == [[1, 1], [3, 1], [3, 1.2], [1, 1.2]]
    assert (mark["state"], mark["score"]) == ("checked", 0.95)
    analyze, *polls = azure.received[:4]
    assert analyze.path == "/documentintelligence/documentModels/prebuilt-layout:analyze?api-version=2024-11-30"
    assert analyze.headers["content-type"] == "application/octet-stream" and analyze.body.startswith(b"%PDF-")
    assert [p.method for p in polls] == ["GET"] * 3  # running, running, succeeded
    assert broken.status_code == 422 and "corrupted" in broken.json()["error"]["message"]


@async_test
async def test_deepl_translates_text_and_documents(tmp_path: Path) -> None:
    async with FakeDeepL() as deepl, through(tmp_path, {"deepl": {"type": "deepl", "url": deepl.url, "key": DEEPL_KEY}},
                                             utilities={"translate": "deepl/default"}) as http:
        text = await http.post("/v1/translate", json={"input": "Good morning", "language": "German"})
        markdown = await http.post("/v1/translate", data={"lang": "fr"},
                                   files={"file": ("a.md", b"# Hello", "text/markdown")})
        original = docx_bytes("Contract")
        document = await http.post("/v1/translate", data={"lang": "pt-br"},
                                   files={"file": ("contract.docx", original, DOCX)})
        image = await http.post("/v1/translate", data={"lang": "de"},
                                files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + bytes(50), "image/png")})
    assert text.text == "[DE] GOOD MORNING" and text.headers["content-type"] == "text/plain; charset=utf-8"
    assert markdown.text == "[FR] # HELLO" and markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert document.status_code == 200 and document.headers["content-type"] == DOCX
    assert document.content == b"translated to PT-BR: " + original
    upload = next(r for r in deepl.received if r.path == "/v2/document")
    assert upload.form["file"][0] == "contract.docx" and upload.form["target_lang"] == ["PT-BR"]
    assert image.status_code == 415 and DOCX in image.json()["error"]["message"]


@pytest.mark.parametrize("language, code", [("German", "DE"), ("de", "DE"), ("en", "EN-US"), ("pt_BR", "PT-BR"),
                                            ("EN-GB", "EN-GB")])
def test_deepl_language_codes(language: str, code: str) -> None:
    assert target_language(language) == code


def test_deepl_refuses_a_language_it_cannot_name() -> None:
    with pytest.raises(ir.GatewayError) as caught:
        target_language("Klingon language")
    assert caught.value.param == "language"
