"""The SSRF-safe fetcher against a real page server on 127.0.0.1: what it fetches, and what it
refuses (loopback without an allowance, a public name that resolves to a private address, a
redirect to one), bounded in redirects, size and time. Names are resolved by the event loop's
`getaddrinfo`, which a test replaces to give a name the address it needs."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from interlingua.adapters import ir
from interlingua.adapters.fetching import Fetcher, refusal
from tests.support import async_test

PDF = b"%PDF-1.4 not really"


@asynccontextmanager
async def pages() -> AsyncIterator[tuple[int, list[str]]]:
    """A page server on an ephemeral 127.0.0.1 port; yields the port and the Host headers seen."""
    hosts: list[str] = []

    async def page(request: web.Request) -> web.StreamResponse:
        hosts.append(request.headers.get("host", ""))
        name = request.match_info["name"]
        if name == "doc.pdf":
            return web.Response(body=PDF, content_type="application/pdf",
                                headers={"content-disposition": 'attachment; filename="report.pdf"'})
        if name == "to-private":
            raise web.HTTPFound("http://10.1.2.3/secret")
        if name == "to-metadata":
            raise web.HTTPFound("http://metadata.example/latest/meta-data/")
        if name == "to-doc":
            raise web.HTTPFound("/doc.pdf")
        if name == "loop":
            raise web.HTTPFound("/loop")
        if name == "big":
            return web.Response(body=b"x" * 5000, content_type="text/plain")
        if name == "big-stream":
            response = web.StreamResponse(headers={"content-type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(10):
                await response.write(b"y" * 1000)
            return response
        if name == "slow":
            await asyncio.sleep(5)
        if name == "missing":
            raise web.HTTPNotFound()
        return web.Response(text="<html><body><p>Hello</p></body></html>", content_type="text/html",
                            charset="utf-8")

    app = web.Application()
    app.router.add_get("/{name:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, hosts
    finally:
        await runner.cleanup()


def resolving(names: dict[str, str | list[str]]) -> Callable[..., Any]:
    """Make the running loop's `getaddrinfo` answer `names` (a name to one address, or to a
    sequence of answers, one per lookup) and refuse every other name as DNS would."""
    loop = asyncio.get_running_loop()
    answers = {name: [value] if isinstance(value, str) else list(value) for name, value in names.items()}
    lookups: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        lookups.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
    return lambda: lookups


async def refused(fetcher: Fetcher, url: str) -> ir.GatewayError:
    with pytest.raises(ir.GatewayError) as caught:
        await fetcher.fetch(url)
    await fetcher.aclose()
    return caught.value


@async_test
async def test_fetches_an_allowed_page_with_its_type_and_filename() -> None:
    async with pages() as (port, hosts):
        fetcher = Fetcher(allow_networks=["127.0.0.1/32"])
        page = await fetcher.fetch(f"http://127.0.0.1:{port}/index.html")
        doc = await fetcher.fetch(f"http://127.0.0.1:{port}/to-doc")
        await fetcher.aclose()
    assert (page.content_type, page.charset, page.filename) == ("text/html", "utf-8", "index.html")
    assert b"<p>Hello</p>" in page.body
    assert (doc.url, doc.content_type, doc.filename, doc.body) == (
        f"http://127.0.0.1:{port}/doc.pdf", "application/pdf", "report.pdf", PDF)
    assert doc.redirects == [f"http://127.0.0.1:{port}/to-doc"]


@async_test
async def test_loopback_is_refused_without_an_allowance() -> None:
    async with pages() as (port, hosts):
        error = await refused(Fetcher(), f"http://127.0.0.1:{port}/index.html")
    assert (error.status, error.param) == (403, "url")
    assert "loopback" in error.message
    assert hosts == []  # refused before any connection


@async_test
async def test_a_public_name_resolving_to_a_private_address_is_refused() -> None:
    resolving({"innocent.example": "10.0.0.7"})
    error = await refused(Fetcher(allow_networks=["127.0.0.1/32"]), "http://innocent.example/")
    assert error.status == 403
    assert "innocent.example resolves to 10.0.0.7, a private address" in error.message


@async_test
async def test_redirects_to_private_and_metadata_addresses_are_refused() -> None:
    async with pages() as (port, hosts):
        resolving({"metadata.example": "169.254.169.254"})
        private = await refused(Fetcher(allow_hosts=["127.0.0.1"]), f"http://127.0.0.1:{port}/to-private")
        metadata = await refused(Fetcher(allow_hosts=["127.0.0.1"]), f"http://127.0.0.1:{port}/to-metadata")
    assert private.status == metadata.status == 403
    assert "10.1.2.3, a private address" in private.message
    assert "cloud metadata" in metadata.message
    assert len(hosts) == 2  # the first hop of each was fetched, the second never


@async_test
async def test_connects_to_the_checked_address_with_the_name_kept() -> None:
    """DNS rebinding: the name is looked up once per hop and the connection goes to that answer,
    so a second, different answer is never used; the server still sees the name in Host."""
    async with pages() as (port, hosts):
        lookups = resolving({"docs.example": ["127.0.0.1", "10.9.9.9"]})
        fetcher = Fetcher(allow_networks=["127.0.0.1/32"])
        page = await fetcher.fetch(f"http://docs.example:{port}/a")
        await fetcher.aclose()
    assert lookups() == ["docs.example"]
    assert hosts == [f"docs.example:{port}"]
    assert page.url == f"http://docs.example:{port}/a"


@async_test
async def test_one_private_answer_among_public_ones_is_refused() -> None:
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("93.184.215.14", "192.168.1.1")]

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
    error = await refused(Fetcher(), "http://mixed.example/")
    assert error.status == 403 and "192.168.1.1" in error.message


@async_test
async def test_size_time_and_redirect_bounds() -> None:
    async with pages() as (port, hosts):
        base = f"http://127.0.0.1:{port}"
        allowed = ["127.0.0.0/8"]
        declared = await refused(Fetcher(allow_networks=allowed, max_bytes=1000), f"{base}/big")
        streamed = await refused(Fetcher(allow_networks=allowed, max_bytes=1000), f"{base}/big-stream")
        slow = await refused(Fetcher(allow_networks=allowed, timeout=0.3), f"{base}/slow")
        loop = await refused(Fetcher(allow_networks=allowed, max_redirects=3), f"{base}/loop")
        missing = await refused(Fetcher(allow_networks=allowed), f"{base}/missing")
    assert (declared.status, streamed.status, slow.status, loop.status, missing.status) == (413, 413, 504, 502, 502)
    assert "more than 3 redirects" in loop.message
    assert "answered 404" in missing.message


@async_test
async def test_urls_that_are_not_http_are_refused() -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "not a url", "http://"):
        error = await refused(Fetcher(), url)
        assert (error.status, error.param) == (400, "url")


@pytest.mark.parametrize("address, reason", [
    ("8.8.8.8", None),
    ("2606:4700::1111", None),
    ("127.0.0.2", "loopback"),
    ("::1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "non-public"),
])
def test_refusal_names_the_reason(address: str, reason: str | None) -> None:
    found = refusal(ipaddress.ip_address(address))
    assert found is None if reason is None else reason in (found or "")
