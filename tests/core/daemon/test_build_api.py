"""``POST /build`` at the edge: docker's query translated, bad ones a 400 naming the field,
and a pouchd without an image builder saying what to install."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from pouch.testing.daemon import PouchDaemon


def _context() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = b"FROM busybox\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _build(api: PouchDaemon, body: bytes, **query: object) -> tuple[int, dict[str, object]]:
    status, _, data = api.request(
        "POST", "/build", body, query=query, headers={"Content-Type": "application/x-tar"}
    )
    return status, json.loads(data or b"{}")


def test_without_a_builder_the_answer_says_what_to_install(api: PouchDaemon) -> None:
    status, answer = _build(api, _context(), t="app:1")
    assert status == 400
    assert "pip install pouch-build" in str(answer["message"])
    assert not list((api.run_root / "uploads").glob("*.tar"))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"remote": "https://example.com/repo.git"}, "remote"),
        ({"buildargs": "{not json"}, "buildargs"),
        ({"labels": json.dumps({"a": 1})}, "labels"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_field(
    api: PouchDaemon, query: dict[str, object], field: str
) -> None:
    status, answer = _build(api, _context(), **query)
    assert status == 400
    assert field in str(answer["message"]), answer
