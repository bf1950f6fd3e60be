"""pouch-p2p as a user sees it: installed, discovered, its settings checked by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from pouch.testing.plugins import load_plugin

NAME = "p2p"


def test_loaded_and_serving_nothing_by_default(tmp_path: Path) -> None:
    kernel, status = load_plugin(NAME, tmp_path)
    assert status.state == "loaded", status
    assert status.module == "pouch_p2p.plugin"
    assert "p2p" not in [s.name for s, _ in kernel.services]


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({"listen": "127.0.0.2:5050"}, "plugin.p2p.token", "shared token"),
        ({"listen": "0.0.0.0:5050", "token": "x" * 20}, "plugin.p2p.listen", "every address"),
        ({"listen": "127.0.0.2", "token": "x" * 20}, "plugin.p2p.listen", "host:port"),
        ({"peers": ["10.0.0.2"]}, "plugin.p2p.peers", "host:port"),
        ({"rate": "fast"}, "plugin.p2p.rate", "number of bytes"),
        ({"seeds": "x"}, "plugin.p2p", "unknown setting"),
        ({"tls_cert": "/etc/hostname"}, "plugin.p2p.tls_key", "needs all of"),
        (
            {"tls_cert": "/nonexistent.pem", "tls_key": "/etc/hostname", "tls_ca": "/etc/hostname"},
            "plugin.p2p.tls_cert",
            "is not a file",
        ),
        ({"tracker": "x"}, "plugin.p2p.tracker", "host:port"),
    ],
)
def test_bad_settings_fail_the_plugin_naming_the_key(
    tmp_path: Path, settings: dict[str, object], key: str, words: str
) -> None:
    _, status = load_plugin(NAME, tmp_path, **settings)
    assert status.state == "failed", status
    assert key in status.reason and words in status.reason
