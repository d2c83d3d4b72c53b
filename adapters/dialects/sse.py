"""Server-sent events framing, shared by every dialect that streams over SSE."""

from __future__ import annotations

from collections.abc import Iterator

from interlingua.adapters import ir

MAX_EVENT_BYTES = 256 * 2**20  # of one event of an upstream's stream (an image in base64 is tens of MB)


def frame(data: bytes, event: str | None = None) -> bytes:
    """One SSE event; `data` must be a single line (compact JSON is)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"



def split_complete(buffer: bytes) -> tuple[bytes, bytes]:
    """Split `buffer` after its last complete event: (complete events, the unfinished rest)."""
    lf, crlf = buffer.rfind(b"\n\n"), buffer.rfind(b"\r\n\r\n")
    cut = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
    return buffer[:cut], buffer[cut:]


def events(block: bytes) -> Iterator[tuple[str | None, bytes]]:
    """(event name, data) of each event in a block of complete events; comments are skipped.

    Multi-line data is joined with a newline, as the SSE specification says.
    """
    for raw in block.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not raw:
            continue
        name: str | None = None
        data: list[bytes] = []
        for line in raw.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"event:"):
                name = line[6:].strip().decode()
        if data:
            yield name, b"\n".join(data)


class Splitter:
    """Cuts a byte stream into blocks of whole SSE events, whatever the network's chunking.

    An unfinished event is held as the chunks it came in, and only each new chunk (with the three
    bytes before it, where a blank line may begin) is searched: an event of megabytes (an image in
    base64) in small reads would otherwise be copied and searched whole once per read. With a
    `limit`, an event that grows past it is the upstream's failure (a retryable 502) rather than
    held on: a stream that never ends its event would otherwise take all the memory there is.
    """

    __slots__ = ("_held", "_tail", "_size", "limit")

    def __init__(self, limit: int | None = None) -> None:
        self._held: list[bytes] = []
        self._tail = b""  # the last bytes held, as many as a blank line has less one
        self._size = 0  # of the bytes held
        self.limit = limit

    def feed(self, chunk: bytes) -> bytes:
        tail = self._tail
        complete, rest = split_complete(tail + chunk if tail else chunk)
        if not complete:
            if chunk:
                self._held.append(chunk)
                self._tail = (tail + chunk)[-3:]
                self._size += len(chunk)
                if self.limit is not None and self._size > self.limit:
                    raise ir.GatewayError("upstream", f"upstream stream sent an event of more than "
                                          f"{self.limit / 2**20:g} MB", retryable=True)
            return b""
        # A held event has no blank line in it, so the one found ends in `chunk`.
        head = b"".join(self._held)
        self._held = [rest] if rest else []
        self._tail = rest[-3:]
        self._size = len(rest)
        return head + complete[len(tail):]

    def flush(self) -> bytes:
        rest = b"".join(self._held)
        self._held = []
        self._tail = b""
        self._size = 0
        return rest + b"\n\n" if rest.strip() else b""
