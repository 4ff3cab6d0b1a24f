"""A deliberately dumb HTTP/1.1 client over a raw socket.

The request target goes on the wire byte for byte (no client normalizes ``..``, ``%2f``,
``//`` or ``*`` away), several requests can share one keep-alive connection or be pipelined
in one write, and a response is parsed just enough to judge it: status, headers, body framed
by ``Content-Length``, chunked encoding or the end of the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MAX_RESPONSE = 1 << 20  # a guard or server error page is tiny; never buffer without bound


@dataclass
class RawResponse:
    """One response as it came off the wire; header names lower-cased, in order."""

    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    @property
    def handled(self) -> bool:
        """The app behind the guard produced this response (see tests/e2e/served.py)."""
        return self.header("x-e2e-handler") == "1"

    @property
    def closes(self) -> bool:
        return (self.header("connection") or "").lower() == "close"


class ConnectionClosed(Exception):
    """The server closed the connection before a complete response arrived."""


class RawConnection:
    """``with RawConnection(port) as conn: conn.send(b"GET / HTTP/1.1\\r\\n..."); conn.read()``."""

    def __init__(self, port: int, *, source: str | None = None, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout, source_address=(source, 0) if source else None
        )
        self.buffer = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buffer += chunk
        if len(self.buffer) > MAX_RESPONSE:
            raise AssertionError("response larger than any guard or server error page")
        return True

    def _take_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionClosed(self.buffer[:200].decode("latin-1"))
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise ConnectionClosed(f"{len(self.buffer)} of {n} body bytes")
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read(self, *, head: bool = False) -> RawResponse:
        """The next response on the connection (``head=True``: the request was HEAD, no body)."""
        response = _parse_head(self._take_until(b"\r\n\r\n"))
        if head or response.status in (204, 304) or 100 <= response.status < 200:
            return response
        length = response.header("content-length")
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._take_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._take_until(b"\r\n")
                    break
                body += self._take(size)
                self._take(2)
            response.body = body
        elif length is not None:
            response.body = self._take(int(length))
        else:  # framed by the end of the connection
            while self._fill():
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def read_or_closed(self, *, head: bool = False) -> RawResponse | None:
        """The next response, or None when the server just closed the connection."""
        try:
            return self.read(head=head)
        except (ConnectionClosed, ConnectionResetError):
            return None


def request_bytes(method: str, target: bytes | str,
                  headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None, *,
                  close: bool = False, version: str = "HTTP/1.1") -> bytes:
    """A complete request with ``Host``; ``target`` is sent exactly as given (a list of header
    pairs may repeat a name)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" " + version.encode(), b"Host: 127.0.0.1"]
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        lines.append(f"{name}: {value}".encode("latin-1"))
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def exchange(port: int, data: bytes, *, source: str | None = None, head: bool = False) -> RawResponse | None:
    """Send raw bytes on a fresh connection and read one response (None: closed, no answer)."""
    with RawConnection(port, source=source) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the server stopped reading early;
            conn.send(data)  # it may still have answered
        return conn.read_or_closed(head=head)


def _parse_head(raw_head: bytes) -> RawResponse:
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    _version, status, *reason = status_line.split(" ", 2)
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return RawResponse(int(status), reason[0] if reason else "", headers)


class AsyncRawConnection:
    """The same dumb client for asyncio: one keep-alive connection, one request at a time.

    ``conn = await AsyncRawConnection.open(port, source)``; ``await conn.request(data, head=False)``.
    Light enough that a load test measures the server, not the client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, source: str | None = None) -> AsyncRawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0) if source else None,
                                                       limit=MAX_RESPONSE)
        return cls(reader, writer)

    async def request(self, data: bytes, *, head: bool = False) -> RawResponse:
        self.writer.write(data)
        response = _parse_head((await self.reader.readuntil(b"\r\n\r\n"))[:-4])
        if head or response.status in (204, 304):
            return response
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
                body = body[:-2]
            await self.reader.readuntil(b"\r\n")
            response.body = body
        else:
            response.body = await self.reader.readexactly(int(response.header("content-length") or 0))
        return response

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
