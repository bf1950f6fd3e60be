"""The CLI's errors: each carries the message shown after ``Error:`` and an exit status."""

from __future__ import annotations

__all__ = ["APIError", "CLIError", "CannotConnect", "ConnectionLost", "UsageError"]


class CLIError(Exception):
    """A failure to report as ``Error: <message>`` with exit status ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class APIError(CLIError):
    """pouchd answered with an error; ``message`` is the daemon's own."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status

    @property
    def not_found(self) -> bool:
        return self.http_status == 404


class CannotConnect(CLIError):
    """pouchd is not there (or not reachable)."""


class ConnectionLost(CLIError):
    """pouchd (or whatever listens there) hung up in the middle of an exchange."""


class UsageError(CLIError):
    """Bad flags or arguments: exit status 125, as docker."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=125)
