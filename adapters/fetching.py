"""The gateway's one URL fetcher, safe against server-side request forgery.

A client that hands the gateway a `url` must not reach what the gateway can reach and it cannot:
loopback, private networks, link-local and cloud metadata addresses. So every hop, the first and
each redirect, is resolved with the event loop's `getaddrinfo`, every address the name gives is
checked, and the request then goes to exactly the address that was checked: the URL is rewritten
to that IP, with `Host` and TLS SNI (and so certificate checks) kept on the name. A name whose DNS
answer changes between the check and the connect (rebinding) cannot slip past, as there is no
second lookup. Config may allow named hosts or networks (tests serve their pages from 127.0.0.1).

Bounded: redirects (`max_redirects`), body size (`max_bytes`, refused from `Content-Length`
before any of the body is read, else as soon as the stream passes it; decompressed bytes count)
and the whole fetch's time (`timeout`). One httpx client serves every fetch of the app, so it keeps
no cookies; a fetch keeps its own across its redirects, as a browser would within one visit, which a
site that sets a session or consent cookie and redirects back needs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import unquote

import httpx

from interlingua.adapters import ir

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services: AWS, GCP and Azure use 169.254.169.254 (link-local anyway), AWS also
# fd00:ec2::254, Alibaba 100.100.100.200 (in the carrier-grade NAT range).
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "interlingua-fetcher/0.1"


@dataclass(slots=True)
class Fetched:
    """A fetched document: the final URL after redirects, its declared content type (without
    parameters, lower case; "" when the server sent none), its charset, a filename (from
    `Content-Disposition`, else the URL's last path segment) and the body."""

    url: str
    content_type: str
    body: bytes
    filename: str = ""
    charset: str | None = None
    redirects: list[str] = field(default_factory=list)  # the URLs that redirected, in order


def refusal(address: IPAddress) -> str | None:
    """Why a connection to `address` is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA:
        return "a cloud metadata address"
    for reason, hit in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("an unspecified address", address.is_unspecified),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("a non-public address", not address.is_global),
    ):
        if hit:
            return reason
    return None


class Fetcher:
    """Fetches URLs for the utility APIs; built once per app, closed with it (`aclose`).

    `allow_hosts` are host names (exact, case-insensitive) and `allow_networks` CIDR networks that
    may be reached although they are not public. `verify` is how TLS certificates are checked
    (httpx's default, the certifi roots; a context of its own for a private CA).
    """

    def __init__(
        self,
        *,
        allow_hosts: Iterable[str] = (),
        allow_networks: Iterable[str] = (),
        max_bytes: int = 50 * 1024 * 1024,
        timeout: float = 30.0,
        max_redirects: int = 5,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allow_hosts = frozenset(h.lower().rstrip(".") for h in allow_hosts)
        self.allow_networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allow_networks)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        # No proxies from the environment (they would connect by name), no redirects (each hop is
        # checked here), and no kept-alive connections: the pool knows a connection by the address
        # it went to, so a kept one would serve another name on that address without its own TLS
        # handshake (SNI and certificate check). A fetch is one request, so little is lost. No
        # cookies kept: one fetcher serves every client, and a site's cookie for one is nobody else's.
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout, verify=verify,
                                         limits=httpx.Limits(max_keepalive_connections=0),
                                         headers={"user-agent": _USER_AGENT},
                                         cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> Fetched:
        """GET `url`, following redirects, every hop's address checked. Raises `ir.GatewayError`:
        400 for a URL that is not http(s), 403 naming why an address is refused, 413 over the size
        cap, 504 past the time limit, 502 when the server fails or answers an error."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(url)
        except TimeoutError:
            raise ir.GatewayError("timeout", f"url: fetching {url} took longer than {self.timeout:g} s",
                                  param="url") from None

    async def _follow(self, url: str) -> Fetched:
        redirects: list[str] = []
        cookies = httpx.Cookies()
        current = _parse(url)
        while True:
            response = await self._send(current, cookies)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    if len(redirects) >= self.max_redirects:
                        raise ir.GatewayError("upstream", f"url: more than {self.max_redirects} redirects",
                                              param="url")
                    # Read against the name, not the address the request went to, so that the cookie
                    # jar scopes them by the site as it would for a browser.
                    cookies.extract_cookies(httpx.Response(response.status_code, headers=response.headers,
                                                           request=httpx.Request("GET", current)))
                    redirects.append(str(current))
                    current = _parse(str(current.join(response.headers["location"])))
                    continue
                if response.status_code >= 400:
                    raise ir.GatewayError("upstream", f"url: {current} answered {response.status_code}",
                                          param="url")
                body = await self._read(response)
            finally:
                await response.aclose()
            return _fetched(current, response, body, redirects)

    async def _send(self, url: httpx.URL, cookies: httpx.Cookies) -> httpx.Response:
        """One hop: resolve, check, then connect to the checked address with the name kept, and
        with the cookies that the fetch's earlier hops set for that name."""
        address = await self._address(url)
        host = url.host
        port = url.port
        target = url.copy_with(host=str(address))
        headers = {"host": host if port is None else f"{host}:{port}"}
        if cookies:
            named = httpx.Request("GET", url)
            cookies.set_cookie_header(named)
            if "cookie" in named.headers:
                headers["cookie"] = named.headers["cookie"]
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        request = self._client.build_request("GET", target, headers=headers, extensions=extensions)
        try:
            return await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as exc:
            raise ir.GatewayError("upstream", f"url: could not fetch {url}: {exc or type(exc).__name__}",
                                  param="url") from None

    async def check(self, url: str) -> None:
        """Refuse, as a fetch would, a URL whose host is not one the gateway may reach (another
        client of the same rules: a remote MCP server a turn names)."""
        await self._address(_parse(url))

    async def _address(self, url: httpx.URL) -> IPAddress:
        """The one address to connect to; every address the name resolves to must be allowed, so
        that which one the connection would have picked never matters."""
        host = url.host.lower().rstrip(".")
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = await _resolve(host, url.port or (443 if url.scheme == "https" else 80))
        if host in self.allow_hosts:
            return addresses[0]
        for address in addresses:
            if any(address in network for network in self.allow_networks):
                continue
            reason = refusal(address)
            if reason is not None:
                where = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
                raise ir.GatewayError("permission", f"url: {where} {reason}, which the gateway does not fetch "
                                      "(allow it in [fetch] allow_hosts or allow_networks)",
                                      param="url", code="address_not_allowed")
        return addresses[0]

    async def _read(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _too_large(self.max_bytes)
        chunks = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                chunks += chunk
                if len(chunks) > self.max_bytes:
                    raise _too_large(self.max_bytes)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as exc:
            raise ir.GatewayError("upstream", f"url: the body broke off: {exc or type(exc).__name__}",
                                  param="url") from None
        return bytes(chunks)


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ir.invalid("url", f"is not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ir.invalid("url", "must be an http or https URL with a host")
    return parsed


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ir.GatewayError("upstream", f"url: cannot resolve {host}: {exc}", param="url") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    if not addresses:
        raise ir.GatewayError("upstream", f"url: {host} has no address", param="url")
    return addresses


def _too_large(limit: int) -> ir.GatewayError:
    return ir.GatewayError("too_large", f"url: the document is larger than the {limit} byte limit", param="url")


def _fetched(url: httpx.URL, response: httpx.Response, body: bytes, redirects: list[str]) -> Fetched:
    header = Message()
    header["content-type"] = response.headers.get("content-type", "")
    content_type = header.get_content_type() if response.headers.get("content-type") else ""
    charset = header.get_content_charset()
    disposition = Message()
    disposition["content-disposition"] = response.headers.get("content-disposition", "")
    filename = disposition.get_filename() or unquote(url.path.rsplit("/", 1)[-1])
    return Fetched(str(url), content_type, body, filename, charset, redirects)
