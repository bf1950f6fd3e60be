"""Who the peers are: the static list, every address of a DNS name, never this node."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pouch_p2p import find_peers, parse_settings


def test_static_peers_and_every_address_of_a_name_less_this_node() -> None:
    addresses = sorted({str(a[4][0]) for a in socket.getaddrinfo("localhost", 5050)})
    assert addresses, "localhost resolves to nothing here"
    settings = parse_settings(
        {
            "listen": "127.0.0.1:5050",
            "token": "t" * 20,
            "peers": ["10.0.0.2:5050", "10.0.0.2:5050", "[fd00::3]:5050"],
            "dns": "localhost:5050",
        }
    )
    names = [peer.name for peer in find_peers(settings)]
    from_dns = [f"peer [{a}]:5050" if ":" in a else f"peer {a}:5050" for a in addresses]
    assert names == ["peer 10.0.0.2:5050", "peer [fd00::3]:5050"] + [
        n for n in from_dns if n != "peer 127.0.0.1:5050"
    ]


def test_a_name_that_does_not_resolve_gives_no_peers_rather_than_failing_pulls() -> None:
    settings = parse_settings({"dns": "no-such-peer.invalid:5050"})
    assert find_peers(settings) == []


def test_each_a_record_of_the_name_is_a_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands in for a DNS server with three A records (none reachable from here).
    records = ["10.0.0.2", "10.0.0.3", "10.0.0.4"]

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[Any]:
        assert host == "peers.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in records]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    settings = parse_settings(
        {"listen": "10.0.0.3:5050", "token": "t" * 20, "dns": "peers.example:5050"}
    )
    assert [p.name for p in find_peers(settings)] == ["peer 10.0.0.2:5050", "peer 10.0.0.4:5050"]
