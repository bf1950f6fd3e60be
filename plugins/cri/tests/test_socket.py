"""The CRI socket on its own: the relay between two connections, and the plain
socket that holds the path until the first client, then hands it to the
server it starts — with an echo server in gRPC's place, so no grpc here."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.abc
import pytest
from pouch_cri._relay import relay
from pouch_cri._socket import CriSocket

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

_BIG = os.urandom(8 << 20)


async def _pair() -> tuple[anyio.abc.SocketStream, anyio.abc.SocketStream]:
    left, right = socket.socketpair()
    return (
        await anyio.abc.SocketStream.from_socket(left),
        await anyio.abc.SocketStream.from_socket(right),
    )


async def _receive(stream: anyio.abc.ByteReceiveStream, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        got += await stream.receive()
    return bytes(got)


async def _read_all(stream: anyio.abc.ByteReceiveStream) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def _closed(stream: anyio.abc.ByteReceiveStream) -> bool:
    """Whether the other end closed the connection (with what it did not read: a reset)."""
    try:
        return await _read_all(stream) == b""
    except anyio.BrokenResourceError:
        return True


@pytest.fixture
async def relayed() -> AsyncIterator[tuple[anyio.abc.SocketStream, anyio.abc.SocketStream]]:
    """A client and a server end, joined by a relay; the relay's end is awaited."""
    client, client_side = await _pair()
    server_side, server = await _pair()
    async with anyio.create_task_group() as group:
        group.start_soon(relay, client_side, server_side)
        yield client, server
        with anyio.fail_after(10):  # the relay ends by itself once both sides are done
            await client.aclose()
            await server.aclose()
    assert client_side.extra(anyio.abc.SocketAttribute.raw_socket).fileno() == -1
    assert server_side.extra(anyio.abc.SocketAttribute.raw_socket).fileno() == -1


async def test_the_relay_copies_both_ways_with_half_closes(
    relayed: tuple[anyio.abc.SocketStream, anyio.abc.SocketStream],
) -> None:
    client, server = relayed
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            # 8 MiB each way at once: neither direction waits for the other.
            group.start_soon(client.send, _BIG)
            group.start_soon(server.send, _BIG[::-1])
            assert await _receive(server, len(_BIG)) == _BIG
            assert await _receive(client, len(_BIG)) == _BIG[::-1]
        # The client is done sending: the server sees the end, and may still answer.
        await client.send_eof()
        assert await _read_all(server) == b""
        await server.send(b"after your end")
        assert await client.receive() == b"after your end"
        await server.send_eof()
        assert await _read_all(client) == b""


async def test_a_side_that_goes_ends_the_relay(
    relayed: tuple[anyio.abc.SocketStream, anyio.abc.SocketStream],
) -> None:
    client, server = relayed
    await client.send(b"one")
    assert await server.receive() == b"one"
    await server.aclose()
    with anyio.fail_after(10):
        assert await _read_all(client) == b""


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a unix socket's path has at most 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="pcri-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class EchoServer:
    """In gRPC's place: an echo server on the path it is given, in ``group``, counting."""

    def __init__(self, group: anyio.abc.TaskGroup, fail: int = 0) -> None:
        self.group = group
        self.fail = fail  # starts that raise first
        self.starts = 0
        self.connections = 0
        self.stopped = False
        self._scope = anyio.CancelScope()

    async def start(self, path: Path) -> EchoServer:
        self.starts += 1
        if self.fail:
            self.fail -= 1
            raise ImportError("No module named 'grpc'")
        await anyio.sleep(0.2)  # a slow start: more clients come meanwhile
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen()
        listener.setblocking(False)
        self.group.start_soon(self._serve, listener)
        return self

    async def _serve(self, listener: socket.socket) -> None:
        with self._scope, listener:
            while True:
                await anyio.wait_readable(listener)
                connection, _ = listener.accept()
                stream = await anyio.abc.SocketStream.from_socket(connection)
                self.group.start_soon(self._echo, stream)

    async def _echo(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        async with stream:
            async for chunk in stream:
                await stream.send(chunk)

    async def stop(self) -> None:
        self.stopped = True
        self._scope.cancel()


async def _echoes(path: Path, message: bytes) -> bytes:
    async with await anyio.connect_unix(path) as stream, anyio.create_task_group() as group:
        group.start_soon(stream.send, message)  # while the echo comes back
        return await _receive(stream, len(message))


def _is_socket(path: Path) -> bool:
    return stat.S_ISSOCK(path.stat().st_mode)


async def test_the_first_clients_start_one_server_and_are_relayed(short_dir: Path) -> None:
    path = short_dir / "cri.sock"
    path.write_text("left by a pouchd that was killed")
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            echo = EchoServer(group)
            cri = CriSocket(path, echo.start)
            await group.start(cri.serve)
            assert _is_socket(path) and cri.state == "listening" and echo.starts == 0
            # Five clients at once, before any server: one start, all relayed.
            answers: list[bytes] = []

            async def client(number: int) -> None:
                answers.append(await _echoes(path, f"hello {number}".encode() * 1000))

            async with anyio.create_task_group() as clients:
                for number in range(5):
                    clients.start_soon(client, number)
            assert sorted(answers) == sorted(f"hello {n}".encode() * 1000 for n in range(5))
            assert (echo.starts, cri.relayed, cri.state) == (1, 5, "serving")
            assert _is_socket(path) and not cri.beside.exists()
            # Later clients reach the server itself.
            assert await _echoes(path, _BIG) == _BIG
            assert (echo.starts, cri.relayed, echo.connections) == (1, 5, 6)
            group.cancel_scope.cancel()
    assert echo.stopped and not path.exists() and cri.state == "closed"


async def test_a_failed_start_closes_the_client_and_the_next_one_tries_again(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = short_dir / "cri.sock"
    with anyio.fail_after(30), caplog.at_level(logging.ERROR, logger="pouch.cri"):
        async with anyio.create_task_group() as group:
            echo = EchoServer(group, fail=1)
            cri = CriSocket(path, echo.start)
            await group.start(cri.serve)
            async with await anyio.connect_unix(path) as stream:
                await stream.send(b"anyone?")
                assert await _closed(stream)  # not left hanging
            assert "cannot start the gRPC server" in caplog.text
            assert "No module named 'grpc'" in caplog.text
            assert cri.state == "listening" and _is_socket(path)
            assert await _echoes(path, b"again") == b"again"
            assert (echo.starts, cri.state) == (2, "serving")
            group.cancel_scope.cancel()
    assert not path.exists()


async def test_stopping_closes_the_relayed_connections(short_dir: Path) -> None:
    path = short_dir / "cri.sock"
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            echo = EchoServer(group)
            cri = CriSocket(path, echo.start)
            await group.start(cri.serve)
            stream = await anyio.connect_unix(path)
            await stream.send(b"held")
            assert await stream.receive() == b"held"
            assert cri.relayed == 1
            group.cancel_scope.cancel()
        async with stream:
            assert await _read_all(stream) == b""
    assert echo.stopped and not path.exists()


async def test_stopping_before_any_client_leaves_nothing(short_dir: Path) -> None:
    path = short_dir / "cri.sock"
    async with anyio.create_task_group() as group:
        echo = EchoServer(group)
        cri = CriSocket(path, echo.start)
        await group.start(cri.serve)
        group.cancel_scope.cancel()
    assert echo.starts == 0 and not path.exists() and list(short_dir.iterdir()) == []
