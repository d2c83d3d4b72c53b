"""URL fetching: a utility request that names a `url` gets the document fetched here, once, before
any target is asked, so a fallback target reads the same bytes and the page is not fetched again.

The fetch is the app's one `Fetcher` (`adapters/fetching.py`: every hop's address checked, size,
time and redirects bounded); its refusals are answered in the client's dialect (403, 413, 504,
502). The fetched body becomes the request's `file`, as an upload would be, with the server's
content type, charset and file name, for the reader to sniff and read; a text page is then asked of
the key's tpm as an upload of it would have been. Sits after routing, so an unknown model or a
key's refusal costs no fetch.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.fetching import Fetcher
from interlingua.middleware.limits import BYTES_PER_TOKEN, admit_more, text_bytes
from interlingua.middleware.normalise import HEAD_BYTES
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import REQUEST, state_of


class FetchMiddleware:
    def __init__(self, app: Any, fetcher: Fetcher) -> None:
        self.app = app
        self.fetcher = fetcher

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        request = state.get(REQUEST)
        if scope["type"] == "http" and isinstance(request, ir.DocumentRequest) and request.url and not request.file:
            try:
                fetched = await self.fetcher.fetch(request.url)
            except ir.GatewayError as error:
                await send_error(scope, send, error)
                return
            if not fetched.body:
                await send_error(scope, send, ir.invalid("url", f"{fetched.url} answered with an empty body"))
                return
            content_type = fetched.content_type + (f"; charset={fetched.charset}" if fetched.charset else "")
            upload = ir.Upload("file", fetched.filename, content_type, io.BytesIO(fetched.body), len(fetched.body),
                               fetched.body[:HEAD_BYTES])
            if not await admit_more(scope, send, lambda: text_bytes([upload]) // BYTES_PER_TOKEN):
                return
            state[REQUEST] = dataclasses.replace(request, file=upload)
        await self.app(scope, receive, send)
