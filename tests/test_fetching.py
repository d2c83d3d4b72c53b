"""The SSRF-safe fetcher against a real page server on 127.0.0.1: what it fetches, and what it
refuses (loopback without an allowance, a public name that resolves to a private address, a
redirect to one), bounded in redirects, size and time. Names are resolved by the event loop's
`getaddrinfo`, which a test replaces to give a name the address it needs."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from interlingua.adapters import ir
from interlingua.adapters.fetching import Fetcher, refusal
from interlingua.middleware.fetch import FetchMiddleware
from interlingua.middleware.state import REQUEST
from tests.asgi import Recorder, call
from tests.support import async_test, serving

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
            await asyncio.sleep(1)
        if name == "missing":
            raise web.HTTPNotFound()
        return web.Response(text="<html><body><p>Hello</p></body></html>", content_type="text/html",
                            charset="utf-8")

    app = web.Application()
    app.router.add_get("/{name:.*}", page)
    async with serving(app) as port:
        yield port, hosts


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
    assert "10.1.2.3 is a private address" in private.message
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


# The fetch middleware alone ------------------------------------------------------------------------


@async_test
async def test_the_middleware_puts_the_fetched_page_in_the_request_or_answers_the_refusal() -> None:
    async with pages() as (port, hosts):
        inner = Recorder()
        allowed = FetchMiddleware(inner, Fetcher(allow_networks=["127.0.0.1/32"]))
        request = ir.DocumentRequest("extract", None, "utility", url=f"http://127.0.0.1:{port}/doc.pdf")
        fetched = await call(allowed, "POST", "/v1/extract", state={REQUEST: request})
        closed = FetchMiddleware(inner, Fetcher())
        refused = await call(closed, "POST", "/v1/extract", state={REQUEST: request})
        text = ir.DocumentRequest("segment", None, "utility", text="plain")
        untouched = await call(closed, "POST", "/v1/segment", state={REQUEST: text})
        await allowed.fetcher.aclose()
        await closed.fetcher.aclose()
    upload = inner.scopes[0]["state"][REQUEST].file
    assert fetched.status == 200 and request.file is None  # a copy: the request itself is not changed
    assert (upload.name, upload.filename, upload.content_type, upload.size, upload.head) == (
        "file", "report.pdf", "application/pdf", len(PDF), PDF[:16])
    assert upload.file.read() == PDF
    assert refused.status == 403 and refused.json()["error"]["param"] == "url" and len(inner.scopes) == 2
    assert untouched.status == 200 and inner.scopes[1]["state"][REQUEST] is text


# TLS: the certificate is checked against the name, though the connection goes to the address ------


def certificate(name: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, written to `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@async_test
async def test_https_keeps_the_name_for_sni_and_the_certificate_check(tmp_path: Path) -> None:
    cert_path, key_path = certificate("docs.example", tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_path, key_path)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _socket, name, _context: names.append(name)  # type: ignore[assignment,func-returns-value]

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("host", ""), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", page)
    async with serving(app, server_tls) as port:
        resolving({"docs.example": "127.0.0.1", "other.example": "127.0.0.1"})
        trusting = ssl.create_default_context(cafile=str(cert_path))
        fetcher = Fetcher(allow_networks=["127.0.0.1/32"], verify=trusting)
        fetched = await fetcher.fetch(f"https://docs.example:{port}/")
        wrong = await refused(fetcher, f"https://other.example:{port}/")  # the certificate names docs.example
    assert fetched.body == f"docs.example:{port}".encode()
    assert names[0] == "docs.example"
    assert wrong.status == 502 and "other.example" in wrong.message


@async_test
async def test_a_sites_cookies_are_not_sent_with_the_next_fetch() -> None:
    """One fetcher serves every client of the gateway: a cookie one fetch was given must not go
    with another client's fetch of the same site."""
    sent: list[str | None] = []

    async def page(request: web.Request) -> web.Response:
        sent.append(request.headers.get("cookie"))
        return web.Response(text="hello", content_type="text/plain", headers={"set-cookie": "session=first; Path=/"})

    app = web.Application()
    app.router.add_get("/{name:.*}", page)
    async with serving(app) as port:
        resolving({"docs.example": "127.0.0.1"})
        fetcher = Fetcher(allow_networks=["127.0.0.1/32"])
        for _ in range(2):
            assert (await fetcher.fetch(f"http://docs.example:{port}/a")).body == b"hello"
        await fetcher.aclose()
    assert sent == [None, None]


@async_test
async def test_a_cookie_set_on_the_way_through_redirects_goes_back_to_its_site_only() -> None:
    """A cookie wall: the page answers only a visitor with the session cookie, which its first
    answer sets while redirecting to it. The fetch carries that cookie to the page, as a browser
    would, but never to another site the chain passes through, nor to the next fetch."""
    sent: list[tuple[str, str | None]] = []

    async def page(request: web.Request) -> web.Response:
        sent.append((request.host.split(":")[0] + request.path, request.headers.get("cookie")))
        if request.path == "/article":
            if request.cookies.get("session") != "s1":
                return web.Response(status=302, headers={"location": "/consent"})
            return web.Response(text="the article", content_type="text/plain")
        if request.path == "/consent":  # sets the cookie, then sends the visitor round another site
            return web.Response(status=302, headers={"set-cookie": "session=s1; Path=/; HttpOnly",
                                                     "location": f"http://cdn.example:{request.url.port}/hop"})
        return web.Response(status=302, headers={"location": f"http://docs.example:{request.url.port}/article"})

    app = web.Application()
    app.router.add_get("/{name:.*}", page)
    async with serving(app) as port:
        resolving({"docs.example": "127.0.0.1", "cdn.example": "127.0.0.1"})
        fetcher = Fetcher(allow_networks=["127.0.0.1/32"])
        fetched = await fetcher.fetch(f"http://docs.example:{port}/article")
        again = await fetcher.fetch(f"http://docs.example:{port}/article")
        await fetcher.aclose()
    assert fetched.body == again.body == b"the article"
    assert fetched.url == f"http://docs.example:{port}/article"
    visit = [("docs.example/article", None), ("docs.example/consent", None), ("cdn.example/hop", None),
             ("docs.example/article", "session=s1")]
    assert sent == visit * 2  # the second fetch starts with no cookie again
