"""TLS for ``tcp://`` hosts; imported only when ``--tls`` or ``--tlsverify`` is given."""

from __future__ import annotations

import ssl

from pouch.cli._endpoint import TLSOptions
from pouch.cli._errors import CLIError

__all__ = ["context"]


def context(options: TLSOptions) -> ssl.SSLContext:
    """A client context: verify pouchd against ``cacert`` when asked, present ``cert``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if options.verify:
            if options.cacert:
                ctx.load_verify_locations(options.cacert)
            else:
                ctx.load_default_certs()
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if options.cert:
            ctx.load_cert_chain(options.cert, options.key)
    except (OSError, ssl.SSLError) as exc:
        raise CLIError(f"could not load TLS files: {exc}") from exc
    return ctx
