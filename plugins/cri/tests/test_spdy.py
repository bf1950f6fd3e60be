"""The SPDY/3.1 module on its own: frames, header compression, sessions over a
socket pair — streams both ways, half-close, reset, ping, and flow control
with a peer that takes part in it."""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import AsyncIterator

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from pouch_cri import spdy

pytestmark = pytest.mark.anyio


def test_the_dictionary_is_spdy3s() -> None:
    # The zlib dictionary id a SPDY/3 peer expects (the Adler-32 of the draft's
    # dictionary); a different byte anywhere and every header block fails.
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_header_blocks_share_one_context_per_direction() -> None:
    sender, receiver = spdy.HeaderCodec(), spdy.HeaderCodec()
    blocks = [
        sender.encode({"streamtype": ["stdout"]}),
        sender.encode({"streamtype": ["stderr"], "Port": ["80", "81"]}),
    ]
    # The second block refers back to the first: only a decoder that saw both works.
    assert receiver.decode(blocks[0]) == {"streamtype": ["stdout"]}
    assert receiver.decode(blocks[1]) == {"streamtype": ["stderr"], "port": ["80", "81"]}
    with pytest.raises(spdy.ProtocolError):
        spdy.HeaderCodec().decode(b"\x00not zlib")


def test_frame_layout() -> None:
    frame = spdy.control_frame(spdy.PING, 0, struct.pack(">I", 7))
    assert frame == bytes.fromhex("80030006 00000004 00000007".replace(" ", ""))
    data = spdy.data_frame(3, spdy.FLAG_FIN, b"hi")
    assert data == bytes.fromhex("00000003 01000002 6869".replace(" ", ""))


@pytest.fixture
async def sessions() -> AsyncIterator[tuple[spdy.Session, spdy.Session]]:
    """A client and a server session over a socket pair, both serving."""
    left, right = socket.socketpair()
    client_stream = await anyio.abc.SocketStream.from_socket(left)
    server_stream = await anyio.abc.SocketStream.from_socket(right)
    client = spdy.Session(client_stream, client=True)
    server = spdy.Session(server_stream, client=False)
    async with anyio.create_task_group() as group:
        group.start_soon(client.serve)
        group.start_soon(server.serve)
        yield client, server
        group.cancel_scope.cancel()
    await client.aclose()
    await server.aclose()


async def test_streams_carry_data_both_ways_and_half_close(
    sessions: tuple[spdy.Session, spdy.Session],
) -> None:
    client, server = sessions
    with anyio.fail_after(10):
        opened = await client.open({"streamtype": "stdin"})
        accepted = await server.accept()
        assert accepted is not None and accepted.header("streamtype") == "stdin"
        assert accepted.id == opened.id == 1
        await opened.send(b"x" * 40000)  # more than one frame
        await opened.close()
        received = b""
        while chunk := await accepted.receive():
            received += chunk
        assert received == b"x" * 40000
        # Our half closed, the server's still open: it answers, then closes too.
        await accepted.send(b"answer")
        await accepted.close()
        assert await opened.receive() == b"answer"
        assert await opened.receive() == b""
        assert opened.id not in client.streams  # both halves closed: forgotten


async def test_reset_ends_the_stream_for_both(
    sessions: tuple[spdy.Session, spdy.Session],
) -> None:
    client, server = sessions
    with anyio.fail_after(10):
        opened = await client.open({"streamtype": "stdout"})
        accepted = await server.accept()
        assert accepted is not None
        await accepted.cancel()
        assert await opened.receive() == b""
        assert opened.reset


async def test_ping_is_echoed(sessions: tuple[spdy.Session, spdy.Session]) -> None:
    client, _ = sessions
    seen: list[int] = []
    original = client._dispatch

    async def watch(frame: spdy.Frame) -> None:
        if frame.kind == spdy.PING:
            seen.append(frame.value)
        await original(frame)

    client._dispatch = watch  # type: ignore[method-assign]
    with anyio.fail_after(10):
        await client.ping(1)  # odd: a client's id, echoed by the server
        while not seen:
            await anyio.sleep(0.01)
    assert seen == [1]


async def test_a_stream_the_peer_should_not_open_is_refused(
    sessions: tuple[spdy.Session, spdy.Session],
) -> None:
    client, _ = sessions
    # A client opening an even (server-side) stream id is a protocol error.
    prefix = struct.pack(">IIH", 2, 0, 0)
    await client._write_headers(spdy.SYN_STREAM, 0, prefix, {"streamtype": ["x"]})
    client.streams[2] = spdy.Stream(client, 2, {})
    with anyio.fail_after(10):
        assert await client.streams[2].receive() == b""
    assert client.streams.get(2) is None or client.streams[2].reset


async def test_flow_control_with_a_peer_that_takes_part() -> None:
    left, right = socket.socketpair()
    client = spdy.Session(await anyio.abc.SocketStream.from_socket(left), client=True)
    raw = await anyio.abc.SocketStream.from_socket(right)
    reader = BufferedByteReceiveStream(raw)
    codec = spdy.HeaderCodec()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(client.serve)
            # The peer announces a 1000-byte initial window.
            settings = struct.pack(">III", 1, spdy.SETTINGS_INITIAL_WINDOW_SIZE, 1000)
            await raw.send(spdy.control_frame(spdy.SETTINGS, 0, settings))
            while not client.peer_flow_control:
                await anyio.sleep(0.01)

            async def open_and_send() -> None:
                stream = await client.open({"streamtype": "stdout"})
                await stream.send(b"a" * 2500)

            group.start_soon(open_and_send)
            syn = await spdy.read_frame(reader, codec)
            assert syn.kind == spdy.SYN_STREAM
            reply = struct.pack(">I", syn.stream_id) + codec.encode({})
            await raw.send(spdy.control_frame(spdy.SYN_REPLY, 0, reply))
            first = await spdy.read_frame(reader, codec)
            assert len(first.data) == 1000  # then the sender waits for the window
            with anyio.move_on_after(0.3):
                await spdy.read_frame(reader, codec)
                pytest.fail("data beyond the window was sent")
            delta = struct.pack(">II", syn.stream_id, 5000)
            await raw.send(spdy.control_frame(spdy.WINDOW_UPDATE, 0, delta))
            await raw.send(spdy.control_frame(spdy.WINDOW_UPDATE, 0, struct.pack(">II", 0, 5000)))
            rest = await spdy.read_frame(reader, codec)
            assert len(rest.data) == 1500
            group.cancel_scope.cancel()
    await client.aclose()
    await raw.aclose()
