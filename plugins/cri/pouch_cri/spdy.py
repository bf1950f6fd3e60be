"""SPDY/3.1 framing and sessions, as Kubernetes' streaming clients speak it.

kubelet, kubectl and crictl carry exec, attach and port-forward over SPDY/3.1
after an HTTP upgrade: each of stdin, stdout, stderr, the error channel and
the terminal size is a stream of its own inside one connection. This module is
the protocol: control frames (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS,
PING, GOAWAY, HEADERS, WINDOW_UPDATE), data frames, header blocks compressed
with one zlib context per direction primed with the SPDY/3 dictionary, and
flow control.

Flow control: received data is acknowledged with WINDOW_UPDATE frames as the
application reads it (per stream and for the session, as SPDY/3.1 asks). The
send side keeps within the peer's windows once the peer shows it takes part
(it sends SETTINGS with an initial window, or WINDOW_UPDATE); Go's spdystream,
which Kubernetes uses, never does and never waits for them either, so with it
data flows unthrottled, as between kubelet and kubectl.

``Session`` runs over any anyio byte stream; the server side accepts streams
(answering each SYN_STREAM with a SYN_REPLY), the client side opens them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = [
    "DICTIONARY",
    "Frame",
    "HeaderCodec",
    "ProtocolError",
    "Session",
    "Stream",
    "control_frame",
    "data_frame",
]

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
SETTINGS_INITIAL_WINDOW_SIZE = 7
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_CANCEL = 1, 2, 5
INITIAL_WINDOW = 64 * 1024
_MAX_DATA = 16 * 1024  # bytes per data frame we send


def _dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1):
    length-prefixed header names and common values, then common text."""
    words = (  # noqa: SIM905 - a list literal would take 65 lines
        "options|head|post|put|delete|trace|accept|accept-charset|accept-encoding|"
        "accept-language|accept-ranges|age|allow|authorization|cache-control|connection|"
        "content-base|content-encoding|content-language|content-length|content-location|"
        "content-md5|content-range|content-type|date|etag|expect|expires|from|host|if-match|"
        "if-modified-since|if-none-match|if-range|if-unmodified-since|last-modified|location|"
        "max-forwards|pragma|proxy-authenticate|proxy-authorization|range|referer|retry-after|"
        "server|te|trailer|transfer-encoding|upgrade|user-agent|vary|via|warning|"
        "www-authenticate|method|get|status|200 OK|version|HTTP/1.1|url|public|set-cookie|"
        "keep-alive|origin"
    ).split("|")
    prefixed = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415"
        "416417502504505203 Non-Authoritative Information204 No Content301 Moved"
        " Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500"
        " Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar"
        " Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat,"
        " Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
        "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return prefixed + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something SPDY/3.1 does not allow."""


Headers = dict[str, list[str]]


class HeaderCodec:
    """Name/value header blocks, compressed with one zlib context per direction."""

    def __init__(self) -> None:
        self._compress = zlib.compressobj(zdict=DICTIONARY)
        self._decompress = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: Mapping[str, list[str]]) -> bytes:
        block = [struct.pack(">I", len(headers))]
        for name, values in headers.items():
            raw_name, raw_value = name.lower().encode(), b"\0".join(v.encode() for v in values)
            block += [struct.pack(">I", len(raw_name)), raw_name]
            block += [struct.pack(">I", len(raw_value)), raw_value]
        data = b"".join(block)
        return self._compress.compress(data) + self._compress.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, compressed: bytes) -> Headers:
        try:
            data = self._decompress.decompress(compressed)
        except zlib.error as error:
            raise ProtocolError(f"header block: {error}") from None
        try:
            (count,) = struct.unpack_from(">I", data, 0)
            offset, headers = 4, {}
            for _ in range(count):
                (size,) = struct.unpack_from(">I", data, offset)
                name = data[offset + 4 : offset + 4 + size].decode()
                offset += 4 + size
                (size,) = struct.unpack_from(">I", data, offset)
                value = data[offset + 4 : offset + 4 + size].decode()
                offset += 4 + size
                headers[name.lower()] = value.split("\0")
        except (struct.error, UnicodeDecodeError) as error:
            raise ProtocolError(f"header block: {error}") from None
        return headers


@dataclass
class Frame:
    """One frame: ``kind`` 0 is data, else the control frame type."""

    kind: int
    flags: int
    stream_id: int = 0
    data: bytes = b""  # a data frame's payload
    headers: Headers = field(default_factory=dict)
    value: int = 0  # RST status, PING id, GOAWAY status, WINDOW_UPDATE delta
    settings: dict[int, int] = field(default_factory=dict)


def control_frame(kind: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


def data_frame(stream_id: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


async def read_frame(receive: BufferedByteReceiveStream, codec: HeaderCodec) -> Frame:
    head = await receive.receive_exactly(8)
    first, second = struct.unpack(">II", head)
    flags, length = second >> 24, second & 0xFFFFFF
    body = await receive.receive_exactly(length) if length else b""
    if not first & 0x80000000:
        return Frame(0, flags, first & 0x7FFFFFFF, data=body)
    version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
    if version != VERSION:
        raise ProtocolError(f"SPDY version {version}, not {VERSION}")
    try:
        return _control(kind, flags, body, codec)
    except struct.error:
        raise ProtocolError(f"control frame {kind} of {length} bytes is truncated") from None


def _control(kind: int, flags: int, body: bytes, codec: HeaderCodec) -> Frame:
    if kind == SYN_STREAM:
        (stream_id,) = struct.unpack_from(">I", body)
        return Frame(kind, flags, stream_id & 0x7FFFFFFF, headers=codec.decode(body[10:]))
    if kind in (SYN_REPLY, HEADERS):
        (stream_id,) = struct.unpack_from(">I", body)
        return Frame(kind, flags, stream_id & 0x7FFFFFFF, headers=codec.decode(body[4:]))
    if kind in (RST_STREAM, WINDOW_UPDATE):
        stream_id, value = struct.unpack_from(">II", body)
        return Frame(kind, flags, stream_id & 0x7FFFFFFF, value=value & 0x7FFFFFFF)
    if kind == PING:
        return Frame(kind, flags, value=struct.unpack_from(">I", body)[0])
    if kind == GOAWAY:
        last, status = struct.unpack_from(">II", body)
        return Frame(kind, flags, last & 0x7FFFFFFF, value=status)
    if kind == SETTINGS:
        (count,) = struct.unpack_from(">I", body)
        pairs = [struct.unpack_from(">II", body, 4 + 8 * i) for i in range(count)]
        return Frame(kind, flags, settings={key & 0xFFFFFF: value for key, value in pairs})
    return Frame(kind, flags)  # unknown control frames are ignored, as the spec asks


class Stream:
    """One SPDY stream: its headers, what the peer sent, our half to send on."""

    def __init__(self, session: Session, stream_id: int, headers: Headers) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self.replied = anyio.Event()
        self.send_window = session.initial_send_window
        self._inbox: list[bytes] = []
        self._arrived = anyio.Event()
        self.remote_closed = False
        self.local_closed = False
        self.reset = False

    def header(self, name: str) -> str:
        return (self.headers.get(name) or [""])[0]

    def _deliver(self, data: bytes, fin: bool) -> None:
        if data:
            self._inbox.append(data)
        self.remote_closed = self.remote_closed or fin
        self._arrived.set()

    async def receive(self) -> bytes:
        """The next data the peer sent; ``b""`` once it closed its half."""
        while not self._inbox:
            if self.remote_closed or self.reset:
                return b""
            self._arrived = anyio.Event()
            await self._arrived.wait()
        data = self._inbox.pop(0)
        await self.session.acknowledge(self, len(data))
        return data

    async def send(self, data: bytes) -> None:
        """Send ``data`` in frames of at most 16 KiB, within the peer's window."""
        view = memoryview(data)
        while view:
            size = await self.session.window_for(self, min(len(view), _MAX_DATA))
            if self.local_closed or self.reset or not size:
                return
            await self.session.write(data_frame(self.id, 0, bytes(view[:size])))
            view = view[size:]

    async def close(self) -> None:
        """Close our half (FIN); the peer may still send."""
        if not (self.local_closed or self.reset):
            self.local_closed = True
            await self.session.write(data_frame(self.id, FLAG_FIN, b""))
            self.session.forget_if_done(self)

    async def cancel(self) -> None:
        """Reset the stream: neither side sends on it any more."""
        if not self.reset:
            self.reset = True
            self._arrived.set()
            await self.session.write(
                control_frame(RST_STREAM, 0, struct.pack(">II", self.id, RST_CANCEL))
            )
            self.session.forget_if_done(self)


class Session:
    """A SPDY/3.1 connection; run ``serve`` in a task, then accept or open streams."""

    def __init__(
        self,
        transport: anyio.abc.ByteStream,
        *,
        client: bool,
        buffered: BufferedByteReceiveStream | None = None,
    ) -> None:
        """``buffered``: the reader that read the HTTP upgrade, with what followed it."""
        self.transport = transport
        self.receive_stream = buffered or BufferedByteReceiveStream(transport)
        self.client = client
        self.codec = HeaderCodec()
        self.streams: dict[int, Stream] = {}
        self._next_id = 1 if client else 2
        self._write_lock = anyio.Lock()
        self._incoming_send, self._incoming = anyio.create_memory_object_stream[Stream | None](64)
        self.initial_send_window = INITIAL_WINDOW
        self.session_window = INITIAL_WINDOW
        self.peer_flow_control = False
        self._window_changed = anyio.Event()
        self.closed = False

    # -- sending ---------------------------------------------------------------

    async def write(self, frame: bytes) -> None:
        if self.closed:
            return
        async with self._write_lock:
            try:
                await self.transport.send(frame)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                self.closed = True

    async def _write_headers(self, kind: int, flags: int, prefix: bytes, headers: Headers) -> None:
        async with self._write_lock:  # compression order must be the order on the wire
            block = self.codec.encode(headers)
            try:
                await self.transport.send(control_frame(kind, flags, prefix + block))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                self.closed = True

    async def window_for(self, stream: Stream, wanted: int) -> int:
        """How much of ``wanted`` may be sent now: waits while the peer's windows
        are closed (only with a peer that does flow control); 0 once it is over."""
        while self.peer_flow_control and not (stream.reset or self.closed):
            size = min(wanted, stream.send_window, self.session_window)
            if size > 0:
                break
            self._window_changed = anyio.Event()
            await self._window_changed.wait()
        else:
            size = 0 if stream.reset or self.closed else wanted
        stream.send_window -= size
        self.session_window -= size
        return size

    async def acknowledge(self, stream: Stream, size: int) -> None:
        """Give the peer back the window ``size`` bytes of read data took."""
        delta = struct.pack(">I", size)
        await self.write(control_frame(WINDOW_UPDATE, 0, struct.pack(">I", stream.id) + delta))
        await self.write(control_frame(WINDOW_UPDATE, 0, struct.pack(">I", 0) + delta))

    # -- streams ---------------------------------------------------------------

    async def open(self, headers: Mapping[str, str], *, timeout: float = 30) -> Stream:
        """Open a stream (client side) and wait for the peer's SYN_REPLY."""
        stream_id, self._next_id = self._next_id, self._next_id + 2
        stream = Stream(self, stream_id, {k: [v] for k, v in headers.items()})
        self.streams[stream_id] = stream
        prefix = struct.pack(">IIH", stream_id, 0, 0)
        await self._write_headers(SYN_STREAM, 0, prefix, stream.headers)
        with anyio.fail_after(timeout):
            await stream.replied.wait()
        if stream.reset:
            raise ProtocolError(f"the peer refused stream {stream_id}")
        return stream

    async def accept(self) -> Stream | None:
        """The next stream the peer opened (already replied to); None once closed."""
        try:
            return await self._incoming.receive()
        except anyio.EndOfStream:
            return None

    def forget_if_done(self, stream: Stream) -> None:
        if stream.reset or (stream.local_closed and stream.remote_closed):
            self.streams.pop(stream.id, None)

    async def ping(self, ping_id: int) -> None:
        await self.write(control_frame(PING, 0, struct.pack(">I", ping_id)))

    async def goaway(self) -> None:
        await self.write(control_frame(GOAWAY, 0, struct.pack(">II", 0, 0)))

    async def aclose(self) -> None:
        self.closed = True
        self._window_changed.set()
        for stream in list(self.streams.values()):
            stream._deliver(b"", True)
        self._incoming_send.close()
        await self.transport.aclose()

    # -- receiving -------------------------------------------------------------

    async def serve(self) -> None:
        """Read frames until the connection ends; then every stream sees its end."""
        try:
            while True:
                frame = await read_frame(self.receive_stream, self.codec)
                await self._dispatch(frame)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
            pass
        except (anyio.ClosedResourceError, OSError, ProtocolError):
            pass
        finally:
            self.closed = True
            self._window_changed.set()
            for stream in list(self.streams.values()):
                stream._deliver(b"", True)
                stream.replied.set()
            self._incoming_send.close()

    async def _dispatch(self, frame: Frame) -> None:
        stream = self.streams.get(frame.stream_id)
        if frame.kind == 0:
            if stream is not None:
                stream._deliver(frame.data, bool(frame.flags & FLAG_FIN))
                self.forget_if_done(stream)
        elif frame.kind == SYN_STREAM:
            await self._syn_stream(frame)
        elif frame.kind == SYN_REPLY and stream is not None:
            stream.headers.update(frame.headers)
            stream.replied.set()
            if frame.flags & FLAG_FIN:
                stream._deliver(b"", True)
        elif frame.kind == RST_STREAM and stream is not None:
            stream.reset = True
            stream._deliver(b"", True)
            stream.replied.set()
            self.forget_if_done(stream)
        elif frame.kind == PING and frame.value % 2 != self._next_id % 2:
            await self.ping(frame.value)  # the peer's ping: echo it
        elif frame.kind == SETTINGS and SETTINGS_INITIAL_WINDOW_SIZE in frame.settings:
            self.initial_send_window = frame.settings[SETTINGS_INITIAL_WINDOW_SIZE]
            self.peer_flow_control = True
        elif frame.kind == WINDOW_UPDATE:
            self._window_update(frame, stream)
        elif frame.kind == GOAWAY:
            self._incoming_send.close()

    def _window_update(self, frame: Frame, stream: Stream | None) -> None:
        self.peer_flow_control = True
        if frame.stream_id == 0:
            self.session_window += frame.value
        elif stream is not None:
            stream.send_window += frame.value
        self._window_changed.set()

    async def _syn_stream(self, frame: Frame) -> None:
        if frame.stream_id in self.streams or frame.stream_id % 2 == self._next_id % 2:
            await self.write(
                control_frame(
                    RST_STREAM, 0, struct.pack(">II", frame.stream_id, RST_INVALID_STREAM)
                )
            )
            return
        stream = Stream(self, frame.stream_id, frame.headers)
        self.streams[frame.stream_id] = stream
        await self._write_headers(SYN_REPLY, 0, struct.pack(">I", frame.stream_id), {})
        stream.replied.set()
        if frame.flags & FLAG_FIN:
            stream._deliver(b"", True)
        try:
            self._incoming_send.send_nowait(stream)
        except (anyio.WouldBlock, anyio.ClosedResourceError):
            await stream.cancel()
