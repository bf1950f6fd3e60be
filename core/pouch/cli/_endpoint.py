"""Where pouchd listens (``-H``/``$POUCH_HOST``) and how to secure TCP (``--tls*``)."""

from __future__ import annotations

from pouch.cli._errors import CLIError

__all__ = ["DEFAULT_HOST", "Endpoint", "TLSOptions"]

DEFAULT_HOST = "unix:///run/pouch/pouchd.sock"


# Plain classes, not dataclasses: ``dataclasses`` imports ``inspect`` and ``ast``,
# which would cost every ``pouch`` command several milliseconds at start-up.


class TLSOptions:
    """Client TLS settings (``--tls``, ``--tlsverify`` and the three files)."""

    __slots__ = ("cacert", "cert", "key", "verify")

    def __init__(
        self,
        verify: bool = False,
        cacert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
    ) -> None:
        self.verify = verify
        self.cacert = cacert
        self.cert = cert
        self.key = key


class Endpoint:
    """Where pouchd listens: ``unix:///path`` or ``tcp://host:port``."""

    __slots__ = ("address", "port", "scheme", "url")

    def __init__(self, url: str, scheme: str, address: str, port: int = 0) -> None:
        self.url = url
        self.scheme = scheme
        self.address = address  # the socket path for unix, the host for tcp
        self.port = port

    def __repr__(self) -> str:
        return f"Endpoint({self.url!r})"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        if text.startswith("unix://"):
            path = text[len("unix://") :]
            if not path.startswith("/"):
                raise CLIError(f"invalid host {text!r}: a unix socket path must be absolute")
            return cls(text, "unix", path)
        if text.startswith("tcp://"):
            rest = text[len("tcp://") :].rstrip("/")
            host, sep, port = rest.rpartition(":")
            if not sep or not port.isdigit() or not host:
                raise CLIError(f"invalid host {text!r}: use tcp://HOST:PORT")
            return cls(text, "tcp", host.strip("[]"), int(port))
        raise CLIError(f"invalid host {text!r}: use unix:///path/to/socket or tcp://HOST:PORT")
