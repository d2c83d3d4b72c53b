"""OpenAI Files (`/v1/files`) kept by the gateway, read and written by the official `openai` SDK:
upload, list (paged, by purpose), retrieve, content and delete, expiry, the errors in OpenAI's
shape, each key's own files; and turns that name a file by id on Chat, Responses and Anthropic
upstreams, which receive its content inline, in their own dialect's shape. The stores' contract in
SQLite and in a real PostgreSQL, with two gateways on it as replicas."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects.files import StoredFile
from interlingua.adapters.storage.files import Files, FileStore
from interlingua.adapters.storage.pg_files import PgFileStore
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_provider, client, gateway, provider
from tests.servers import postgres
from tests.support import async_test
from tests.test_background import upstream_of

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                       "AAAABJRU5ErkJggg==")
ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"


def _inline(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


@async_test
async def test_files_are_uploaded_listed_read_and_deleted(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = client(url)
        before = int(time.time())
        made = await sdk.files.create(file=("report.pdf", PDF, "application/octet-stream"), purpose="user_data")
        assert made.id.startswith("file-") and made.object == "file" and made.filename == "report.pdf"
        assert (made.bytes, made.purpose, made.status, made.expires_at) == (len(PDF), "user_data", "processed", None)
        assert made.created_at >= before
        assert (await sdk.files.retrieve(made.id)).model_dump() == made.model_dump()
        content = await sdk.files.content(made.id)
        assert content.content == PDF and content.response.headers["content-type"] == "application/pdf"

        batch = await sdk.files.create(file=("jobs.jsonl", b'{"custom_id": "1"}\n'), purpose="batch")
        assert batch.expires_at == batch.created_at + 30 * 86400  # as OpenAI expires batch files
        soon = await sdk.files.create(file=("notes.txt", b"remember", "text/plain"), purpose="assistants",
                                      expires_after={"anchor": "created_at", "seconds": 3600})
        assert soon.expires_at == soon.created_at + 3600
        newest = await sdk.files.list(limit=2)  # newest first by default
        assert [f.id for f in newest.data] == [soon.id, batch.id] and newest.has_more
        every = [f.id async for f in sdk.files.list(limit=1, order="asc")]
        assert every == [made.id, batch.id, soon.id]  # the SDK followed `after` page by page
        assert [f.id for f in (await sdk.files.list(purpose="batch")).data] == [batch.id]

        deleted = await sdk.files.delete(made.id)
        assert (deleted.id, deleted.deleted, deleted.object) == (made.id, True, "file")
        for ask in (sdk.files.retrieve(made.id), sdk.files.content(made.id), sdk.files.delete(made.id)):
            with pytest.raises(openai.NotFoundError) as gone:
                await ask
            assert gone.value.body == {"message": f"No such File object: {made.id}",  # type: ignore[comparison-overlap]
                                       "type": "invalid_request_error", "param": "id", "code": None}


@async_test
async def test_bad_uploads_are_400s_naming_the_field(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = client(url)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"file": ("a.txt", b"x"), "purpose": "homework"}, "purpose"),
            ({"file": ("a.txt", b""), "purpose": "user_data"}, "file"),
            ({"file": ("a.txt", b"x"), "purpose": "user_data",
              "expires_after": {"anchor": "created_at", "seconds": 60}}, "expires_after.seconds"),
            ({"file": ("a.txt", b"x"), "purpose": "user_data",
              "expires_after": {"anchor": "last_active_at", "seconds": 3600}}, "expires_after.anchor"),
        ]
        for fields, param in cases:
            with pytest.raises(openai.BadRequestError) as refused:
                await sdk.files.create(**fields)
            assert refused.value.body["param"] == param, fields  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as json_body:
            await sdk.post("/files", body={"purpose": "user_data"}, cast_to=object)
        assert json_body.value.body["param"] == "file"  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as limit:
            await sdk.files.list(limit=10_001)
        assert limit.value.body["param"] == "limit"  # type: ignore[index]


@async_test
async def test_a_key_finds_only_its_own_files(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x")},
            keys={"alice": {"key": ALICE}, "bob": {"key": BOB}}) as (_, url):
        alice, bob = client(url, ALICE), client(url, BOB)
        mine = await alice.files.create(file=("a.pdf", PDF), purpose="user_data")
        assert (await bob.files.list()).data == []
        for ask in (bob.files.retrieve(mine.id), bob.files.content(mine.id), bob.files.delete(mine.id)):
            with pytest.raises(openai.NotFoundError):
                await ask
        await bob.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": [
            {"type": "file", "file": {"file_id": mine.id}}]}])
        # Not Bob's: his reference goes on as he sent it, for the upstream to judge.
        assert fake.requests[-1].json["messages"][0]["content"][0] == {"type": "file", "file": {"file_id": mine.id}}
        assert (await alice.files.retrieve(mine.id)).id == mine.id


@pytest.mark.parametrize("kind", ["chat", "responses", "anthropic"])
@async_test
async def test_a_responses_turn_reads_a_file_by_id_on_any_upstream(tmp_path: Path, kind: str) -> None:
    fake, text, table = upstream_of(kind)
    async with fake, gateway(tmp_path, providers={"up": table()}) as (_, url):
        sdk = client(url)
        report = await sdk.files.create(file=("report.pdf", PDF), purpose="user_data")
        picture = await sdk.files.create(file=("dot.png", PNG), purpose="vision")
        fake.script(text("A one-page report."))
        asked = [{"role": "user", "content": [{"type": "input_file", "file_id": report.id},
                                              {"type": "input_image", "file_id": picture.id, "detail": "low"},
                                              {"type": "input_text", "text": "What is this?"}]}]
        first = await sdk.responses.create(model="gpt-x", input=asked)  # type: ignore[arg-type]
        assert first.output_text == "A one-page report."
        _sent_inline(kind, fake.requests[-1].json)
        kept = (await sdk.responses.input_items.list(first.id)).data[0]
        assert kept.content[0].file_id == report.id  # type: ignore[union-attr]  # kept as asked, not inline
        fake.script(text("Yes."))
        await sdk.responses.create(model="gpt-x", input="Sure?", previous_response_id=first.id)
        _sent_inline(kind, fake.requests[-1].json)  # read again for the next turn


def _sent_inline(kind: str, body: dict[str, Any]) -> None:
    """The file and the image, as the upstream's own dialect carries them inline."""
    if kind == "chat":
        parts = body["messages"][0]["content"]
        assert parts[0] == {"type": "file", "file": {"filename": "report.pdf",
                                                     "file_data": _inline(PDF, "application/pdf")}}
        assert parts[1] == {"type": "image_url", "image_url": {"url": _inline(PNG, "image/png"), "detail": "low"}}
    elif kind == "responses":
        parts = body["input"][0]["content"]
        assert parts[0] == {"type": "input_file", "filename": "report.pdf",
                            "file_data": _inline(PDF, "application/pdf")}
        assert parts[1] == {"type": "input_image", "image_url": _inline(PNG, "image/png"), "detail": "low"}
    else:
        blocks = body["messages"][0]["content"]
        assert blocks[0]["type"] == "document" and blocks[0]["source"] == {
            "type": "base64", "media_type": "application/pdf", "data": base64.b64encode(PDF).decode()}
        assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                         "data": base64.b64encode(PNG).decode()}}


@async_test
async def test_a_chat_turn_reads_a_text_file_on_claude(tmp_path: Path) -> None:
    from tests.fakes import anthropic_upstream as fa

    async with fa.FakeAnthropic(["claude-x"]) as fake, gateway(
            tmp_path, providers={"claude": anthropic_provider(fake.url, "claude-x")}) as (_, url):
        sdk = client(url)
        notes = await sdk.files.create(file=("notes.txt", b"The launch is on Friday.", "text/plain"),
                                       purpose="user_data")
        fake.script(fa.text("On Friday."))
        answer = await sdk.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": [
            {"type": "file", "file": {"file_id": notes.id}}, {"type": "text", "text": "When is the launch?"}]}])
        assert answer.choices[0].message.content == "On Friday."
        document = fake.requests[-1].json["messages"][0]["content"][0]
        assert document["type"] == "document"
        assert document["source"] == {"type": "text", "media_type": "text/plain", "data": "The launch is on Friday."}
        with pytest.raises(openai.BadRequestError) as not_image:
            await sdk.responses.create(model="claude-x", input=[{"role": "user", "content": [
                {"type": "input_image", "file_id": notes.id}]}])
        assert "text/plain, not an image" in not_image.value.message


async def _keeps_the_contract(store: Files) -> None:
    now = int(time.time())
    made = [StoredFile(f"file-{n}", f"{n}.txt", "batch" if n % 2 else "user_data", "text/plain", 1, now, None)
            for n in range(4)]
    for stored in made:
        await store.create("alice", stored, str(stored.id).encode())
    await store.create("alice", StoredFile("file-old", "old.txt", "user_data", "text/plain", 1, now - 10, now - 1),
                       b"x")
    assert await store.get("alice", "file-1") == made[1] and await store.get("bob", "file-1") is None
    assert await store.get(None, "file-1") == made[1]  # an open gateway finds every file
    assert await store.get("alice", "file-old") is None  # expired
    assert await store.content("alice", ["file-2", "file-x", "file-old"]) == {"file-2": (made[2], b"file-2")}
    assert await store.content("bob", ["file-2"]) == {}
    assert await store.page("alice", None, None, 3, True) == ([made[3], made[2], made[1]], True)
    assert await store.page("alice", None, "file-1", 3, True) == ([made[0]], False)
    assert await store.page("alice", "batch", None, 5, False) == ([made[1], made[3]], False)
    assert await store.page("bob", None, None, 5, False) == ([], False)
    assert await store.delete("bob", "file-0") is False and await store.delete("alice", "file-0") is True
    assert await store.delete("alice", "file-0") is False and await store.get("alice", "file-0") is None
    # A resumable upload: its pieces in order, then the file, the uploader's.
    coming = StoredFile("file-up", "up.bin", "user_data", "application/octet-stream", 6, now, now + 60)
    assert not await store.uploading("session-1")
    await store.begin("alice", "session-1", coming)
    assert await store.uploading("session-1") and not await store.uploading("session-x")
    assert await store.add("session-1", 0, b"\x00ab") == 3
    with pytest.raises(ir.GatewayError) as wrong:
        await store.add("session-1", 2, b"x")
    assert "X-Goog-Upload-Offset" in str(wrong.value)
    assert await store.add("session-1", 3, b"\xffcd") == 6 and await store.add("session-x", 0, b"x") is None
    assert await store.finish("session-1") == ("alice", coming)
    assert not await store.uploading("session-1")
    assert await store.content("alice", ["file-up"]) == {"file-up": (coming, b"\x00ab\xffcd")}
    assert await store.finish("session-1") is None and await store.get("bob", "file-up") is None
    # An upload in parts (OpenAI's): parts in any order, joined in the order named, the owner's alone.
    parted = StoredFile("file-parts", "big.bin", "user_data", "application/octet-stream", 5, now, None)
    await store.open_upload("alice", "upload_1", parted)
    assert await store.add_part("alice", "upload_1", "part_b", b"de") == parted
    assert await store.add_part("alice", "upload_1", "part_a", b"abc") == parted
    assert await store.add_part("bob", "upload_1", "part_x", b"x") is None
    assert await store.add_part("alice", "upload_x", "part_y", b"x") is None
    for parts, why in ((["part_a", "part_x"], "part_x is no part"), (["part_a"], "hold 3 bytes")):
        with pytest.raises(ir.GatewayError) as refused:
            await store.assemble("alice", "upload_1", parts)
        assert why in refused.value.message and refused.value.param == "part_ids"
    assert await store.assemble("bob", "upload_1", ["part_a", "part_b"]) is None
    assert await store.assemble("alice", "upload_1", ["part_a", "part_b"]) == parted
    assert await store.content("alice", ["file-parts"]) == {"file-parts": (parted, b"abcde")}
    assert await store.assemble("alice", "upload_1", ["part_a", "part_b"]) is None  # made once
    await store.open_upload("alice", "upload_2", parted)
    assert await store.drop_upload("bob", "upload_2") is None
    assert await store.drop_upload("alice", "upload_2") == parted
    assert await store.drop_upload("alice", "upload_2") is None


@async_test
async def test_a_file_over_the_body_cap_is_uploaded_in_parts(tmp_path: Path) -> None:
    """The SDK's `uploads.upload_file_chunked` (create, a part at a time, complete) makes a File of a
    size no one request could carry here; parts named out of order, another key's reach, a cancel."""
    big = bytes(range(256)) * 100  # 25,600 bytes, over a cap of about 10 KB
    keys = {"alice": {"key": ALICE}, "bob": {"key": BOB}}
    async with gateway(tmp_path, keys=keys, server={"max_body_mb": 0.01}) as (_, url):
        sdk, other = client(url, ALICE), client(url, BOB)
        with pytest.raises(openai.APIStatusError) as whole:
            await sdk.files.create(file=("big.bin", big), purpose="user_data")
        assert whole.value.status_code == 413
        done = await sdk.uploads.upload_file_chunked(file=big, filename="big.bin", bytes=len(big),
                                                     mime_type="application/octet-stream", purpose="user_data",
                                                     part_size=8000)
        assert done.object == "upload" and done.status == "completed" and done.bytes == len(big)
        assert done.file is not None and done.file.bytes == len(big) and done.file.filename == "big.bin"
        assert (await sdk.files.content(done.file.id)).content == big
        assert (await sdk.files.retrieve(done.file.id)).purpose == "user_data"

        upload = await sdk.uploads.create(bytes=6, filename="two.txt", mime_type="text/plain", purpose="assistants")
        assert upload.status == "pending" and upload.file is None and upload.expires_at > upload.created_at
        second = await sdk.uploads.parts.create(upload.id, data=b"def")
        first = await sdk.uploads.parts.create(upload.id, data=b"abc")
        assert first.object == "upload.part" and first.upload_id == upload.id
        for ask in (other.uploads.parts.create(upload.id, data=b"x"),
                    other.uploads.complete(upload.id, part_ids=[first.id, second.id]), other.uploads.cancel(upload.id)):
            with pytest.raises(openai.NotFoundError):
                await ask
        with pytest.raises(openai.BadRequestError) as short:
            await sdk.uploads.complete(upload.id, part_ids=[first.id])
        assert short.value.param == "part_ids"
        md5 = hashlib.md5(b"abcdef").hexdigest()
        with pytest.raises(openai.BadRequestError) as swapped:  # the parts named out of order: "defabc"
            await sdk.uploads.complete(upload.id, part_ids=[second.id, first.id], md5=md5)
        assert swapped.value.param == "md5" and hashlib.md5(b"defabc").hexdigest() in swapped.value.message
        made = await sdk.uploads.complete(upload.id, part_ids=[first.id, second.id], md5=md5.upper())
        assert made.file is not None and (await sdk.files.content(made.file.id)).content == b"abcdef"

        dropped = await sdk.uploads.create(bytes=1, filename="x", mime_type="text/plain", purpose="user_data")
        assert (await sdk.uploads.cancel(dropped.id)).status == "cancelled"
        with pytest.raises(openai.NotFoundError):
            await sdk.uploads.parts.create(dropped.id, data=b"x")
        with pytest.raises(openai.BadRequestError) as wrong:
            await sdk.uploads.create(bytes=1, filename="x", mime_type="text/plain", purpose="nope")  # type: ignore[arg-type]
        assert wrong.value.param == "purpose"


@async_test
async def test_the_sqlite_store_keeps_the_contract(tmp_path: Path) -> None:
    async with aclosing(FileStore(tmp_path / "files.sqlite3")) as store:
        await _keeps_the_contract(store)
        await store.create(None, StoredFile("file-9", "9.txt", "user_data", "text/plain", 1, int(time.time()), None),
                           b"9")
    with sqlite3.connect(tmp_path / "files.sqlite3") as db:  # the last upload deleted the expired file
        assert db.execute("SELECT id FROM files ORDER BY seq").fetchall() == [
            ("file-1",), ("file-2",), ("file-3",), ("file-up",), ("file-parts",), ("file-9",)]


@async_test
async def test_replicas_on_postgresql_share_files(tmp_path: Path) -> None:
    async with postgres() as server:
        async with aclosing(PgFileStore(server.url)) as store:
            await _keeps_the_contract(store)
        async with fo.FakeOpenAI(["gpt-x"]) as fake:
            tables = {"providers": {"up": provider(fake.url, "gpt-x")}, "storage": {"url": server.url}}
            async with gateway(tmp_path / "a", **tables) as (_, one), gateway(tmp_path / "b", **tables) as (_, other):
                made = await client(one).files.create(file=("a.pdf", PDF), purpose="user_data")
                assert (await client(other).files.content(made.id)).content == PDF
                await client(other).chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": [
                    {"type": "file", "file": {"file_id": made.id}}]}])
                assert fake.requests[-1].json["messages"][0]["content"][0]["file"]["file_data"] == _inline(
                    PDF, "application/pdf")
                await server.stop()
                with pytest.raises(openai.InternalServerError) as away:
                    await client(one).files.retrieve(made.id)
                assert away.value.status_code == 503 and "unreachable" in away.value.message


@async_test
async def test_a_chat_turn_reads_a_pdf_on_gemini(tmp_path: Path) -> None:
    from tests.fakes import gemini_upstream as fg
    from tests.harness import gemini_provider

    async with fg.FakeGemini(["gemini-2.5-flash"]) as fake, gateway(
            tmp_path, providers={"g": gemini_provider(fake.url, "gemini-2.5-flash")}) as (_, url):
        sdk = client(url)
        report = await sdk.files.create(file=("report.pdf", PDF), purpose="user_data")
        fake.script(fg.text("A report."))
        answer = await sdk.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": [
            {"type": "file", "file": {"file_id": report.id}}, {"type": "text", "text": "What is this?"}]}])
        assert answer.choices[0].message.content == "A report."
        part = fake.requests[-1].json["contents"][0]["parts"][0]
        assert part == {"inlineData": {"mimeType": "application/pdf", "data": base64.b64encode(PDF).decode()}}


@async_test
async def test_the_anthropic_sdk_keeps_files_and_claude_reads_them(tmp_path: Path) -> None:
    """Anthropic's beta Files API on the same store: upload, list (paged by `next_page`), metadata,
    download, delete, in Anthropic's shapes and errors; a message's document by file id reaches a
    Claude upstream as base64 and a Chat upstream as a `file` part; OpenAI's files are the same ones."""
    from tests.fakes import anthropic_upstream as fa
    from tests.harness import anthropic_client

    async with fa.FakeAnthropic(["claude-x"]) as claude, fo.FakeOpenAI(["gpt-x"]) as chat, gateway(
            tmp_path, providers={"claude": anthropic_provider(claude.url, "claude-x"),
                                 "chat": provider(chat.url, "gpt-x")}) as (_, url):
        sdk = anthropic_client(url)
        made = await sdk.beta.files.upload(file=("report.pdf", PDF, "application/pdf"))
        assert made.id.startswith("file-") and (made.type, made.filename) == ("file", "report.pdf")
        assert (made.mime_type, made.size_bytes, made.downloadable) == ("application/pdf", len(PDF), True)
        assert abs(made.created_at.timestamp() - time.time()) < 60 and made.expires_at is None
        soon = await sdk.beta.files.upload(file=("notes.txt", b"Friday.", "text/plain"),
                                           expires_in_seconds=3600)
        assert soon.expires_at is not None and (soon.expires_at - soon.created_at).total_seconds() == 3600
        assert (await sdk.beta.files.retrieve_metadata(made.id)).model_dump() == made.model_dump()
        assert await (await sdk.beta.files.download(made.id)).read() == PDF
        assert [f.id async for f in sdk.beta.files.list(limit=1)] == [soon.id, made.id]  # page by page
        assert (await client(url).files.retrieve(made.id)).purpose == "user_data"  # OpenAI's view of it

        document = {"type": "document", "source": {"type": "file", "file_id": made.id}}
        claude.script(fa.text("A report."))
        answer = await sdk.messages.create(model="claude-x", max_tokens=100, messages=[
            {"role": "user", "content": [document, {"type": "text", "text": "What is this?"}]}])
        assert answer.content[0].text == "A report."  # type: ignore[union-attr]
        assert claude.requests[-1].json["messages"][0]["content"][0] == {"type": "document", "source": {
            "type": "base64", "media_type": "application/pdf", "data": base64.b64encode(PDF).decode()}}
        chat.script(fo.text("A report."))
        await sdk.messages.create(model="gpt-x", max_tokens=100, messages=[
            {"role": "user", "content": [document, {"type": "text", "text": "What is this?"}]}])
        assert chat.requests[-1].json["messages"][0]["content"][0]["file"]["file_data"] == _inline(
            PDF, "application/pdf")

        gone = await sdk.beta.files.delete(made.id)
        assert (gone.id, gone.type) == (made.id, "file_deleted")
        with pytest.raises(anthropic.NotFoundError) as missing:
            await sdk.beta.files.retrieve_metadata(made.id)
        assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError) as bad:
            await sdk.beta.files.upload(file=("a.txt", b"x"), expires_in_seconds=10)
        assert "expires_in_seconds" in bad.value.message


@async_test
async def test_the_gemini_sdk_uploads_files_and_any_upstream_reads_them(tmp_path: Path) -> None:
    """google-genai's `files.upload` (a resumable upload: the start with the key, the pieces to the
    upload URL without it, as Google's clients send them), `get`, `list`, `delete` in Gemini's
    shapes; a `fileData` part naming the file reaches a Gemini upstream as `inlineData` and a Chat
    upstream as a `file` part; another key cannot read it, and an upload URL that is not one is a 404,
    before a piece sent to it is read."""
    import io

    from google.genai import errors as genai_errors
    from google.genai import types as genai_types

    from tests.fakes import gemini_upstream as fg
    from tests.harness import gemini_client, gemini_provider

    keys = {"alice": {"key": ALICE}, "bob": {"key": BOB}}
    async with fg.FakeGemini(["gemini-2.5-flash"]) as gemini, fo.FakeOpenAI(["gpt-x"]) as chat, gateway(
            tmp_path, providers={"g": gemini_provider(gemini.url, "gemini-2.5-flash"),
                                 "chat": provider(chat.url, "gpt-x")}, keys=keys,
            server={"max_body_mb": 0.01}) as (_, url):
        sdk = gemini_client(url, ALICE)
        made = await sdk.aio.files.upload(file=io.BytesIO(PDF), config={"mime_type": "application/pdf",
                                                                         "display_name": "report.pdf"})
        assert made.name is not None and made.name.startswith("files/file-") and made.uri is not None
        assert (made.mime_type, made.size_bytes, made.display_name, made.state) == (
            "application/pdf", len(PDF), "report.pdf", genai_types.FileState.ACTIVE)
        assert made.expiration_time is not None and made.create_time is not None
        assert (made.expiration_time - made.create_time).total_seconds() == 48 * 3600
        assert (await sdk.aio.files.get(name=made.name)).uri == made.uri
        assert made.download_uri is not None and await sdk.aio.files.download(file=made) == PDF
        with pytest.raises(genai_errors.ClientError) as unseen:
            await gemini_client(url, BOB).aio.files.download(file=made.name)
        assert unseen.value.code == 404
        assert [f.name async for f in await sdk.aio.files.list()] == [made.name]
        assert (await client(url, ALICE).files.content(made.name.removeprefix("files/"))).content == PDF

        part = genai_types.Part.from_uri(file_uri=made.uri, mime_type="application/pdf")
        gemini.script(fg.text("A report."))
        answer = await sdk.aio.models.generate_content(model="gemini-2.5-flash", contents=[part, "What is this?"])
        assert answer.text == "A report."
        assert gemini.requests[-1].json["contents"][0]["parts"][0] == {
            "inlineData": {"mimeType": "application/pdf", "data": base64.b64encode(PDF).decode()}}
        chat.script(fo.text("A report."))
        await sdk.aio.models.generate_content(model="gpt-x", contents=[part, "What is this?"])
        assert chat.requests[-1].json["messages"][0]["content"][0]["file"]["file_data"] == _inline(
            PDF, "application/pdf")

        with pytest.raises(genai_errors.ClientError) as others:
            await gemini_client(url, BOB).aio.files.get(name=made.name)
        assert others.value.code == 404
        async with httpx.AsyncClient() as http:
            forged = await http.post(f"{url}/upload/v1beta/files?upload_id=not-one&upload_protocol=resumable",
                                     headers={"x-goog-upload-command": "upload, finalize",
                                              "x-goog-upload-offset": "0"}, content=b"x")
            bulky = await http.post(f"{url}/upload/v1beta/files?upload_id=not-one&upload_protocol=resumable",
                                    headers={"x-goog-upload-command": "upload", "x-goog-upload-offset": "0"},
                                    content=b"x" * 20_000)  # over the body cap: refused before it is read
        assert forged.status_code == 404 and forged.json()["error"]["status"] == "NOT_FOUND"
        assert bulky.status_code == 404
        await sdk.aio.files.delete(name=made.name)
        with pytest.raises(genai_errors.ClientError):
            await sdk.aio.files.get(name=made.name)
