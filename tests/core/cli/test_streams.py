"""Wire formats and terminal pieces: demultiplexing, JSON streams, detach keys, progress."""

from __future__ import annotations

import io
import struct

import pytest

from pouch.cli._errors import CLIError
from pouch.cli._format import bytes_size, human_duration, human_size
from pouch.cli._progress import ProgressView, bar
from pouch.cli._session import DetachDetector
from pouch.cli._streams import Demuxer, dechunk, json_messages


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def test_demuxer_splits_frames_across_reads() -> None:
    out: list[bytes] = []
    err: list[bytes] = []
    demux = Demuxer(out.append, err.append)
    wire = frame(1, b"hello\n") + frame(2, b"oops\n") + frame(1, b"") + frame(3, b"daemon\n")
    for i in range(0, len(wire), 5):  # arbitrary read boundaries
        demux.feed(wire[i : i + 5])
    assert b"".join(out) == b"hello\n"
    assert b"".join(err) == b"oops\ndaemon\n"
    assert demux.pending == 0


def test_json_messages_with_and_without_newlines() -> None:
    chunks = [b'{"a": 1}{"b"', b": 2}\n\n", b'{"c": "\xc3', b'\xa9"}', b"[1]"]
    assert list(json_messages(chunks)) == [{"a": 1}, {"b": 2}, {"c": "é"}, [1]]


def test_dechunk() -> None:
    assert dechunk(b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n") == b"hello!"


def test_detach_sequence_is_held_back_and_swallowed() -> None:
    detector = DetachDetector(b"\x10\x11")
    assert detector.feed(b"ls\r") == (b"ls\r", False)
    assert detector.feed(b"\x10") == (b"", False)  # could be the start: held
    assert detector.feed(b"x") == (b"\x10x", False)  # it was not: both go on
    assert detector.feed(b"a\x10\x10") == (b"a\x10", False)
    assert detector.feed(b"\x11rest") == (b"", True)


def test_detach_in_one_read() -> None:
    assert DetachDetector(b"\x10\x11").feed(b"echo\x10\x11") == (b"echo", True)
    assert DetachDetector(b"q").feed(b"abq") == (b"ab", True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (90, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_durations(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_sizes() -> None:
    assert human_size(0) == "0B"
    assert human_size(4_261_035) == "4.26MB"
    assert human_size(1000) == "1kB"
    assert bytes_size(1536) == "1.5KiB"
    assert bytes_size(3 << 30) == "3GiB"


def test_progress_bar() -> None:
    assert bar({"current": 50, "total": 100}).startswith("[" + "=" * 25 + ">")
    assert bar({"current": 100, "total": 100}).startswith("[" + "=" * 50 + "]")
    assert bar({}) == ""


def test_plain_progress_skips_bar_updates() -> None:
    out = io.StringIO()
    view = ProgressView(out, tty=False)
    view.show_all(
        [
            {"status": "Pulling from library/busybox", "id": "latest"},
            {"status": "Pulling fs layer", "progressDetail": {}, "id": "abc"},
            {"status": "Downloading", "progressDetail": {"current": 5, "total": 10}, "id": "abc"},
            {"status": "Pull complete", "progressDetail": {}, "id": "abc"},
            {"status": "Status: Downloaded newer image for busybox:latest"},
        ]
    )
    assert out.getvalue().splitlines() == [
        "latest: Pulling from library/busybox",
        "abc: Pulling fs layer",
        "abc: Pull complete",
        "Status: Downloaded newer image for busybox:latest",
    ]


def test_terminal_progress_redraws_layer_lines() -> None:
    out = io.StringIO()
    view = ProgressView(out, tty=True)
    view.show({"status": "Pulling fs layer", "progressDetail": {}, "id": "a"})
    view.show({"status": "Pulling fs layer", "progressDetail": {}, "id": "b"})
    view.show({"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "id": "a"})
    text = out.getvalue()
    assert text.count("\n") == 2  # one line per layer, redrawn in place
    assert "\x1b[2A" in text  # layer a is two lines up when it is updated
    assert "a: Downloading [" in text


def test_error_messages_raise() -> None:
    with pytest.raises(CLIError, match="manifest unknown"):
        ProgressView(io.StringIO(), tty=False).show({"error": "manifest unknown"})


def test_with_debug_each_layer_says_where_it_came_from() -> None:
    line = {
        "status": "Download complete",
        "progressDetail": {},
        "id": "abc",
        "source": "peer 10.0.0.2:5050",
    }
    quiet, told = io.StringIO(), io.StringIO()
    ProgressView(quiet, tty=False).show(line)
    ProgressView(told, tty=False, sources=True).show(line)
    assert quiet.getvalue() == "abc: Download complete\n"
    assert told.getvalue() == "abc: Download complete (from peer 10.0.0.2:5050)\n"
