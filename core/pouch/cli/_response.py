"""Answers from pouchd: whole JSON bodies, byte streams, JSON message streams."""

from __future__ import annotations

from pouch.cli._errors import APIError, ConnectionLost
from pouch.cli._jsonc import loads
from pouch.cli._streams import json_messages

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from pouch.cli._wire import Connection, WireResponse

__all__ = ["Pending", "Response", "error_message"]


def error_message(status: int, body: bytes) -> str:
    try:
        message = loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    if isinstance(message, str) and message:
        return message
    text = body.decode("utf-8", "replace").strip()
    return text or f"pouchd answered HTTP {status}"


class Response:
    """An answer from pouchd whose status is below 400."""

    def __init__(self, raw: WireResponse, conn: Connection) -> None:
        self.raw = raw
        self.status = raw.status
        self._conn = conn

    def header(self, name: str, default: str = "") -> str:
        return self.raw.getheader(name, default)

    def read(self) -> bytes:
        try:
            return self.raw.read()
        except OSError as exc:
            raise ConnectionLost(f"pouchd closed the connection: {exc}") from exc
        finally:
            self.close()

    def json(self) -> Any:
        data = self.read()
        return loads(data) if data.strip() else None

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """The body as it arrives (for streams that never end on their own)."""
        try:
            while chunk := self.raw.read1(size):
                yield chunk
        except OSError as exc:
            raise ConnectionLost(f"pouchd closed the connection: {exc}") from exc
        finally:
            self.close()

    def messages(self) -> Iterator[Any]:
        """JSON values streamed one after another (pull progress, events, stats)."""
        return json_messages(self.chunks())

    def close(self) -> None:
        self.raw.close()
        self._conn.close()


class Pending:
    """A request that was sent and whose answer has not been read yet."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def finish(self) -> Response:
        """Read the answer (blocking); 400 or more raises ``APIError``."""
        try:
            raw = self._conn.getresponse()
        except OSError as exc:
            self._conn.close()
            raise ConnectionLost(f"pouchd closed the connection: {exc}") from exc
        if raw.status >= 400:
            data = raw.read()
            self._conn.close()
            raise APIError(raw.status, error_message(raw.status, data))
        return Response(raw, self._conn)

    def cancel(self) -> None:
        self._conn.close()
