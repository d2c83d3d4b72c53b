"""The document utilities through the whole gateway on real sockets, driven with httpx as scripts
and apps call them: /v1/extract, /v1/segment, /v1/summarize and /v1/translate on the embedded
backend and on a chat model (the fake OpenAI upstream), documents sent as forms, as raw bodies
and as URLs that the gateway fetches from a page server on 127.0.0.1; errors in OpenAI's shape;
one ledger row per call with its backend, pages, characters and chat tokens."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import docx
import httpx
import orjson
from aiohttp import web

from interlingua.adapters.documents import ooxml
from tests.documents import flate_bomb_pdf, page_lines, text_pdf
from tests.fakes import openai_upstream as fo
from tests.harness import gateway, provider
from tests.support import async_test, serving

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


def ledger(data_dir: Path) -> list[dict[str, Any]]:
    connection = sqlite3.connect(data_dir / "usage.sqlite3")
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute("SELECT * FROM usage ORDER BY id")]
    finally:
        connection.close()


@asynccontextmanager
async def documents_gateway(data_dir: Path, up: fo.FakeOpenAI | None = None, **tables: Any
                            ) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    providers = {"up": provider(up.url, "gpt-x")} if up is not None else {}
    async with gateway(data_dir, providers=providers, **tables) as (app, url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield app, http


@asynccontextmanager
async def page_server(pages: dict[str, tuple[bytes, str]]) -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        body, content_type = pages[request.match_info["name"]]
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get("/{name}", page)
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


# Extract ------------------------------------------------------------------------------------------


@async_test
async def test_extract_a_pdf_upload_as_text_and_the_ledger_row(tmp_path: Path) -> None:
    pdf = text_pdf(2, lines=3)
    async with documents_gateway(tmp_path) as (app, http):
        response = await http.post("/v1/extract", files={"file": ("report.pdf", pdf, "application/pdf")})
        app.ledger.flush()
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-interlingua-upstream"] == "local/documents"
    assert response.text == "\n".join(page_lines(0, 3)) + "\n\n" + "\n".join(page_lines(1, 3))
    row = ledger(tmp_path)[-1]
    assert (row["operation"], row["upstream"], row["status"], row["pages"], row["characters"]) == (
        "extract", "local/documents", 200, 2, len(response.text))


@async_test
async def test_extract_a_raw_body_as_the_json_document(tmp_path: Path) -> None:
    async with documents_gateway(tmp_path) as (_, http):
        response = await http.post("/v1/extract", content=text_pdf(1, lines=2), headers={
            "content-type": "application/pdf", "content-disposition": 'attachment; filename="a.pdf"',
            "accept": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["pages"] == [{"page": 1, "unit": "point", "width": 612.0, "height": 792.0}]
    assert [b["text"] for b in document["blocks"]] == page_lines(0, 2)
    assert set(document["blocks"][0]) == {"page", "text", "state", "score", "polygon"}
    assert len(document["blocks"][0]["polygon"]) == 4


@async_test
async def test_extract_a_url_fetched_by_the_gateway(tmp_path: Path) -> None:
    html = b"<html><body><nav>Menu</nav><article><h2>News</h2><p>It rained.</p></article></body></html>"
    async with page_server({"news.html": (html, "text/html"), "doc.pdf": (text_pdf(1, 1), "application/pdf")}) as site:
        async with documents_gateway(tmp_path, fetch={"allow_networks": ["127.0.0.1/32"]}) as (_, http):
            page = await http.post("/v1/extract", json={"url": f"{site}/news.html"})
            pdf = await http.post("/v1/extract", data={"url": f"{site}/doc.pdf"})
        async with documents_gateway(tmp_path / "closed") as (_, http):
            refused = await http.post("/v1/extract", json={"url": f"{site}/news.html"})
    assert page.text == "## News\n\nIt rained."
    assert pdf.text == page_lines(0, 1)[0]
    assert refused.status_code == 403
    error = error_of(refused)
    assert error["param"] == "url" and "loopback" in error["message"]


@async_test
async def test_extract_into_a_schema_with_a_chat_model(tmp_path: Path) -> None:
    async with fo.FakeOpenAI() as up, documents_gateway(tmp_path, up, utilities={"schema": "up/gpt-x"}) as (app, http):
        up.script(fo.text('{"name": "Ada"}'), fo.text('```json\n{"name": "Ada", "age": 36}\n```'))
        response = await http.post("/v1/extract", files={"file": ("cv.md", b"# Ada\n\nAged 36.", "text/markdown")},
                                   data={"schema": orjson.dumps(SCHEMA).decode()})
        first, retry = up.requests[-2].json, up.requests[-1].json
        up.script(fo.text("not json"), fo.text('{"name": 1}'))
        failed = await http.post("/v1/extract", files={"file": ("cv.txt", b"Ada, 36", "text/plain")},
                                 data={"schema": orjson.dumps(SCHEMA).decode(), "model": "up/gpt-x"})
        app.ledger.flush()
    assert response.status_code == 200 and response.json() == {"name": "Ada", "age": 36}
    assert first["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "# Ada\n\nAged 36." in first["messages"][1]["content"]
    assert "'age' is a required property" in retry["messages"][1]["content"]
    assert failed.status_code == 502
    assert "does not fit the schema" in error_of(failed)["message"]
    row = ledger(tmp_path)[0]
    assert (row["operation"], row["upstream"], row["input_tokens"], row["output_tokens"]) == (
        "extract", "up/gpt-x", 20, 10)  # two chat calls of 10 + 5 tokens each


@async_test
async def test_a_schema_pattern_cannot_hold_the_gateway(tmp_path: Path) -> None:
    """A pattern with nested quantifiers and an answer that almost fits it took Python's `re` twice
    as long for each character, on the event loop: 40 of them, about 12 hours with every other
    request of the worker waiting. Matched with RE2 the answer is refused at once; a pattern RE2
    cannot match is refused before any model is asked."""
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}, "required": ["code"]}
    note = {"file": ("note.txt", b"The code is all a's.", "text/plain")}
    answer = orjson.dumps({"code": "a" * 40 + "!"}).decode()
    async with fo.FakeOpenAI() as up, documents_gateway(tmp_path, up, utilities={"schema": "up/gpt-x"}) as (_, http):
        up.script(fo.text(answer), fo.text(answer))
        nested = await http.post("/v1/extract", files=note, data={"schema": orjson.dumps(schema).decode()})
        asked = len(up.requests)
        lookahead = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(?=.*[0-9]).{8,}$"}}}
        refused = await http.post("/v1/extract", files=note, data={"schema": orjson.dumps(lookahead).decode()})
    assert nested.status_code == 502
    assert "does not match '^(a+)+$'" in error_of(nested)["message"]
    assert (refused.status_code, error_of(refused)["param"]) == (400, "schema")
    assert "'^(?=.*[0-9]).{8,}$' cannot be matched in linear time" in error_of(refused)["message"]
    assert len(up.requests) == asked == 2


@async_test
async def test_unique_items_are_checked_in_linear_time_and_named_by_index(tmp_path: Path) -> None:
    """jsonschema compares objects pairwise (4,000 took 19 s, on the event loop) and names the whole
    array in its message, which went back to the model in the retry."""
    schema = {"type": "object", "properties": {"rows": {"type": "array", "uniqueItems": True}}}
    rows = [{"line": i, "text": "same"} for i in range(20_000)]
    twice = orjson.dumps({"rows": [*rows, {"text": "same", "line": 3}]}).decode()
    async with fo.FakeOpenAI() as up, documents_gateway(tmp_path, up, utilities={"schema": "up/gpt-x"}) as (_, http):
        up.script(fo.text(twice), fo.text(orjson.dumps({"rows": rows}).decode()))
        response = await http.post("/v1/extract", files={"file": ("a.txt", b"Lines.", "text/plain")},
                                   data={"schema": orjson.dumps(schema).decode()})
        retry = up.requests[-1].json["messages"][1]["content"]
    assert response.status_code == 200 and response.json() == {"rows": rows}
    assert "has non-unique elements: items 3 and 20000 are equal at $.rows" in retry
    assert len(retry) < 1000


@async_test
async def test_a_schema_whose_check_fans_out_level_after_level_is_a_400(tmp_path: Path) -> None:
    """Each level's anyOf names the next twice: checking one number against 30 levels would take days."""
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(30)}
    schema = {"$defs": {**defs, "d30": {"type": "string"}}, "$ref": "#/$defs/d0"}
    async with fo.FakeOpenAI() as up, documents_gateway(tmp_path, up, utilities={"schema": "up/gpt-x"}) as (_, http):
        up.script(fo.text("1"))
        response = await http.post("/v1/extract", files={"file": ("a.txt", b"One.", "text/plain")},
                                   data={"schema": orjson.dumps(schema).decode()})
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "schema"
    assert error["message"] == ("schema: checking the answer against it takes more than 32 steps a value (its anyOf, "
                                "oneOf, allOf or $ref fan out level after level)")


@async_test
async def test_an_answer_nested_past_what_the_check_can_follow_is_a_violation(tmp_path: Path) -> None:
    tree = {"$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "$ref": "#/$defs/node"}
    answer = "[" * 600 + "]" * 600
    async with fo.FakeOpenAI() as up, documents_gateway(tmp_path, up, utilities={"schema": "up/gpt-x"}) as (_, http):
        up.script(fo.text(answer), fo.text(answer))
        response = await http.post("/v1/extract", files={"file": ("a.txt", b"A tree.", "text/plain")},
                                   data={"schema": orjson.dumps(tree).decode()})
        retry = up.requests[-1].json
    assert response.status_code == 502
    assert error_of(response)["message"].endswith("does not fit the schema: it nests too deeply")
    assert "it nests too deeply" in retry["messages"][1]["content"]


@async_test
async def test_a_document_that_inflates_past_the_bounds_is_a_413(tmp_path: Path) -> None:
    """A DOCX whose document.xml inflates to 300 MB, as its archive's directory says."""
    made = docx.Document()
    made.add_paragraph("word " * 5_000)
    upload = io.BytesIO()
    made.save(upload)
    data = bytearray(upload.getvalue())
    entry = data.index(b"PK\x01\x02")  # the central directory's first entry
    while not data[entry + 46:].startswith(b"word/document.xml"):
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 24:entry + 28] = (300_000_000).to_bytes(4, "little")  # its uncompressed size
    async with documents_gateway(tmp_path) as (_, http):
        response = await http.post("/v1/extract", files={"file": ("big.docx", bytes(data), "application/vnd."
                                                          "openxmlformats-officedocument.wordprocessingml.document")})
    assert response.status_code == 413
    error = error_of(response)
    assert (error["code"], error["param"]) == ("document_too_large", "file")
    assert f"inflate to more than {ooxml.MAX_INFLATED_BYTES:,} bytes" in error["message"]


@async_test
async def test_a_pdf_that_asks_its_reader_for_more_memory_than_it_may_have_is_a_413(tmp_path: Path) -> None:
    """A 2.7 MB PDF whose content stream inflates to 600 MB takes PDFium 1.3 GB, which it would
    take in the gateway's own process (and a 32 MB one more than the machine has, where PDFium
    aborts the process); its reader process may use 512 MB here, and ends alone."""
    bomb = flate_bomb_pdf(600)
    async with documents_gateway(tmp_path, documents={"memory_mb": 512}) as (_, http):
        response = await http.post("/v1/extract", files={"file": ("bomb.pdf", bomb, "application/pdf")})
        after = await http.post("/v1/extract", files={"file": ("a.pdf", text_pdf(1, 1), "application/pdf")})
    assert response.status_code == 413
    error = error_of(response)
    assert (error["code"], error["param"]) == ("document_too_large", "file")
    assert error["message"] == ("file: the PDF is too large to read: reading it took more than the 512 MB of memory "
                                "a reader may use, or broke the reader")
    assert (after.status_code, after.text) == (200, page_lines(0, 1)[0])


@async_test
async def test_an_html_page_is_read_within_the_readers_memory_too(tmp_path: Path) -> None:
    """600,000 paragraphs are under the page's element bound, and take the parser and the text walk
    about 400 MB beside the reader's 230: within a reader's default 1,024 MB, past 512."""
    page = ("<html><body>" + "<p>x" * 600_000 + "</body></html>").encode()
    async with documents_gateway(tmp_path / "small", documents={"memory_mb": 512}) as (_, http):
        refused = await http.post("/v1/extract", content=page, headers={"content-type": "text/html"})
    async with documents_gateway(tmp_path / "default") as (_, http):
        read = await http.post("/v1/extract", content=page, headers={"content-type": "text/html"})
    assert refused.status_code == 413
    assert error_of(refused)["message"] == ("file: the HTML page is too large to read: reading it took more than the "
                                            "512 MB of memory a reader may use, or broke the reader")
    assert read.status_code == 200 and read.text.count("x") == 600_000


@async_test
async def test_extract_refusals(tmp_path: Path) -> None:
    async with documents_gateway(tmp_path, server={"max_body_mb": 0.01}) as (_, http):
        empty = await http.post("/v1/extract", files={"file": ("a.pdf", b"", "application/pdf")})
        none = await http.post("/v1/extract", json={})
        corrupt = await http.post("/v1/extract", files={"file": ("a.pdf", b"%PDF-1.7 junk", "application/pdf")})
        unknown = await http.post("/v1/extract", content=b"\x00\x01\x02", headers={"content-type": "application/zip"})
        schema = await http.post("/v1/extract", json={"url": "https://example.com", "schema": {"type": 12}})
        deep = await http.post("/v1/extract", files={"file": ("a.txt", b"A", "text/plain")},
                               data={"schema": '{"items":' * 300 + "{}" + "}" * 300})
        counted = await http.post("/v1/extract", json={"url": "https://example.com",
                                                        "schema": {"pattern": "a{99999999999}"}})
        too_big = await http.post("/v1/extract", content=b"x" * 20_000, headers={"content-type": "text/plain"})
        no_model = await http.post("/v1/summarize", json={"input": "Some text."})
        stray = await http.post("/v1/segment", json={"text": "a", "language": "de"})
    assert (empty.status_code, error_of(empty)["param"]) == (400, "file")
    assert (none.status_code, error_of(none)["param"]) == (400, "file")
    assert corrupt.status_code == 422 and "corrupt" in error_of(corrupt)["message"]
    assert unknown.status_code == 415 and "application/pdf" in error_of(unknown)["message"]
    assert (schema.status_code, error_of(schema)["param"]) == (400, "schema")
    assert (deep.status_code, error_of(deep)["param"], error_of(deep)["message"]) == (
        400, "schema", "schema: nests too deeply")
    assert (counted.status_code, error_of(counted)["param"]) == (400, "schema")
    assert "repetition number is too large" in error_of(counted)["message"]
    assert too_big.status_code == 413
    assert no_model.status_code == 400 and "[utilities]" in error_of(no_model)["message"]
    assert (stray.status_code, error_of(stray)["param"]) == (400, "language")


# Segment ------------------------------------------------------------------------------------------


@async_test
async def test_segment_text_and_files_with_offsets(tmp_path: Path) -> None:
    markdown = "# Guide\n\n" + "\n\n".join(f"## Part {i}\n\n" + "word " * 60 for i in range(6))
    async with documents_gateway(tmp_path) as (_, http):
        text = await http.post("/v1/segment", json={"text": markdown, "segment_length": 80, "segment_overlap": 0})
        upload = await http.post("/v1/segment", files={"file": ("guide.md", markdown.encode(), "text/markdown")},
                                 data={"segment_length": "80"})
        whole = await http.post("/v1/segment", data={"input": "Short."})
        bad = await http.post("/v1/segment", json={"text": "x", "segment_length": 10, "segment_overlap": 10})
    segments = text.json()
    assert text.headers["content-type"] == "application/json"
    assert segments == upload.json()
    for segment in segments:
        assert markdown[segment["start"]:segment["end"]] == segment["text"]
    # Split on the headings: each section (about 65 tokens) whole, the title with the first.
    assert [s["text"].split("\n")[0] for s in segments] == ["# Guide"] + [f"## Part {i}" for i in range(1, 6)]
    assert whole.json() == [{"text": "Short.", "start": 0, "end": 6}]
    assert (bad.status_code, error_of(bad)["param"]) == (400, "segment_overlap")


@async_test
async def test_text_with_no_breaks_is_segmented_whole_in_order_and_in_time(tmp_path: Path) -> None:
    """The splitter's time grows with the square of a section it must cut below its words: 100 kB
    with no space, in segments of 16 tokens each overlapping the last by 15, took over a minute
    (past the client's 30 s here), and the thread it ran in went on after the client left. Given a
    window at a time, it answers in seconds, the segments as the whole text would give them."""
    run = "x" * 100_000
    line = "the gateway routes every model to whichever upstream serves it in any dialect and " * 5_000
    async with documents_gateway(tmp_path) as (_, http):
        overlapping = await http.post("/v1/segment", json={"text": run, "segment_length": 16, "segment_overlap": 15})
        long_line = await http.post("/v1/segment", json={"text": line, "segment_length": 512})
    assert overlapping.status_code == long_line.status_code == 200
    segments = overlapping.json()
    assert all(run[s["start"]:s["end"]] == s["text"] for s in segments)
    assert (segments[0]["start"], segments[-1]["end"]) == (0, len(run))
    # Each begins inside the last (15 of its 16 tokens again), and later than it.
    assert all(a["start"] < b["start"] < a["end"] for a, b in pairwise(segments))
    pieces = long_line.json()
    assert all(line[s["start"]:s["end"]] == s["text"] for s in pieces)
    assert "".join(s["text"] for s in pieces).replace(" ", "") == line.replace(" ", "")  # all of it, once, in order


@async_test
async def test_more_segments_than_an_answer_may_hold_is_a_413(tmp_path: Path) -> None:
    """1-token segments of a 32 MB body would be 8 million of them (a minute and 3 GB); an answer
    holds at most 100,000, and the splitter stops at the window that passes them."""
    text = "word " * 120_000
    async with documents_gateway(tmp_path) as (_, http):
        refused = await http.post("/v1/segment", json={"text": text, "segment_length": 1})
        fine = await http.post("/v1/segment", json={"text": text, "segment_length": 8})
    assert refused.status_code == 413
    error = error_of(refused)
    assert (error["code"], error["param"]) == ("too_many_segments", "segment_length")
    assert error["message"] == ("segment_length: segments of 1 token cut this text into more than 100,000; ask for "
                                "longer segments, less overlap, or send less text")
    assert fine.status_code == 200 and 10_000 < len(fine.json()) <= 100_000


# Summarize and translate ---------------------------------------------------------------------------


@async_test
async def test_summarize_short_and_long_texts(tmp_path: Path) -> None:
    utilities = {"summarize": "up/gpt-x"}
    async with fo.FakeOpenAI() as up, documents_gateway(tmp_path, up, utilities=utilities) as (app, http):
        up.script(fo.text("A short summary."))
        short = await http.post("/v1/summarize", json={"input": "Rain fell all day in the valley."})
        long_text = "\n\n".join(f"Paragraph {i}. " + "The river rose and the town waited. " * 200 for i in range(8))
        before = len(up.requests)
        up.default = fo.text("part summary")
        long = await http.post("/v1/summarize", files={"file": ("long.txt", long_text.encode(), "text/plain")})
        app.ledger.flush()
    assert short.status_code == 200 and short.text == "A short summary."
    assert short.headers["content-type"] == "text/plain; charset=utf-8"
    calls = up.requests[before:]
    assert len(calls) > 2  # each part, then the parts' summaries together
    assert calls[-1].json["messages"][1]["content"].count("part summary") == len(calls) - 1
    assert long.text == "part summary"
    rows = ledger(tmp_path)
    assert (rows[1]["operation"], rows[1]["input_tokens"]) == ("summarize", 10 * len(calls))
    assert rows[1]["characters"] == len(long_text)


@async_test
async def test_translate_text_markdown_and_refused_files(tmp_path: Path) -> None:
    async with fo.FakeOpenAI() as up, documents_gateway(tmp_path, up) as (_, http):
        up.script(fo.text("Hallo Welt"), fo.text("# Titel\n\nText."))
        plain = await http.post("/v1/translate",
                                json={"input": "Hello world", "language": "German", "model": "up/gpt-x"})
        asked = up.requests[-1].json
        markdown = await http.post("/v1/translate", files={"file": ("a.md", b"# Title\n\nText.", "text/markdown")},
                                   data={"lang": "de", "model": "up/gpt-x"})
        pdf = await http.post("/v1/translate", files={"file": ("a.pdf", text_pdf(1, 1), "application/pdf")},
                              data={"lang": "de", "model": "up/gpt-x"})
        no_language = await http.post("/v1/translate", json={"input": "Hello", "model": "up/gpt-x"})
    assert plain.text == "Hallo Welt" and plain.headers["content-type"] == "text/plain; charset=utf-8"
    assert "into German" in asked["messages"][0]["content"] and asked["messages"][1]["content"] == "Hello world"
    assert markdown.text == "# Titel\n\nText." and markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert pdf.status_code == 415 and "text/markdown" in error_of(pdf)["message"]
    assert (no_language.status_code, error_of(no_language)["param"]) == (400, "language")
