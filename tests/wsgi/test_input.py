"""`wsgi.input` read semantics over a body that arrives in pieces."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pronghorn.channel import BodyError
from pronghorn.wsgi.input import EmptyInput, InputStream

BODY = b"first line\nsecond\n\nfourth line is longer\nno newline at end"


class PieceSource:
    """A BodySource that hands out the body in fixed pieces, counting calls."""

    def __init__(self, body: bytes, piece: int, error: BodyError | None = None) -> None:
        self.pieces = [body[i : i + piece] for i in range(0, len(body), piece)]
        self.error = error
        self.calls = 0
        self.asked: list[int] = []

    def read_some(self, max_bytes: int) -> bytes:
        self.calls += 1
        self.asked.append(max_bytes)
        assert max_bytes >= 1
        if not self.pieces:
            if self.error is not None:
                raise self.error
            return b""
        piece = self.pieces.pop(0)
        if len(piece) > max_bytes:
            self.pieces.insert(0, piece[max_bytes:])
            piece = piece[:max_bytes]
        return piece


PIECES = [1, 3, 7, 1000]


@pytest.mark.parametrize("piece", PIECES)
def test_read_all(piece: int) -> None:
    stream = InputStream(PieceSource(BODY, piece))
    assert stream.read() == BODY
    assert stream.read() == b""
    assert stream.read(10) == b""
    assert stream.drained()


@pytest.mark.parametrize("piece", PIECES)
def test_read_none_is_read_all(piece: int) -> None:
    assert InputStream(PieceSource(BODY, piece)).read(None) == BODY


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.parametrize("size", [1, 5, 16, 100])
def test_read_n_returns_exactly_n_until_the_end(piece: int, size: int) -> None:
    stream = InputStream(PieceSource(BODY, piece))
    parts = []
    while part := stream.read(size):
        assert len(part) == size or len(b"".join(parts)) + len(part) == len(BODY)
        parts.append(part)
    assert b"".join(parts) == BODY


def test_read_zero_reads_nothing() -> None:
    source = PieceSource(BODY, 4)
    stream = InputStream(source)
    assert stream.read(0) == b""
    assert source.calls == 0


def test_read_n_does_not_ask_for_more_than_needed() -> None:
    source = PieceSource(BODY, 1000)
    stream = InputStream(source)
    assert stream.read(5) == BODY[:5]
    assert source.asked == [5]


@pytest.mark.parametrize("piece", PIECES)
def test_readline(piece: int) -> None:
    stream = InputStream(PieceSource(BODY, piece))
    assert stream.readline() == b"first line\n"
    assert stream.readline() == b"second\n"
    assert stream.readline() == b"\n"
    assert stream.readline() == b"fourth line is longer\n"
    assert stream.readline() == b"no newline at end"
    assert stream.readline() == b""


@pytest.mark.parametrize("piece", PIECES)
def test_readline_with_a_limit(piece: int) -> None:
    stream = InputStream(PieceSource(BODY, piece))
    assert stream.readline(5) == b"first"
    assert stream.readline(100) == b" line\n"
    assert stream.readline(7) == b"second\n"
    assert stream.readline(0) == b""
    assert stream.readline(1) == b"\n"
    assert stream.readline(-1) == b"fourth line is longer\n"
    assert stream.readline(None) == b"no newline at end"
    assert stream.readline(3) == b""


@pytest.mark.parametrize("piece", PIECES)
def test_readlines_and_iteration(piece: int) -> None:
    expected = BODY.splitlines(keepends=True)
    assert InputStream(PieceSource(BODY, piece)).readlines() == expected
    assert list(InputStream(PieceSource(BODY, piece))) == expected


def test_readlines_hint_stops_after_enough() -> None:
    stream = InputStream(PieceSource(BODY, 5))
    assert stream.readlines(12) == [b"first line\n", b"second\n"]
    assert stream.read() == BODY[len(b"first line\nsecond\n") :]


def test_mixed_reads() -> None:
    stream = InputStream(PieceSource(BODY, 3))
    assert stream.read(3) == b"fir"
    assert stream.readline() == b"st line\n"
    assert next(iter(stream)) == b"second\n"
    assert stream.read(2) == b"\nf"
    assert stream.readlines() == [b"ourth line is longer\n", b"no newline at end"]


def test_empty_body() -> None:
    stream = InputStream(PieceSource(b"", 4))
    assert (stream.read(), stream.readline(), stream.readlines(), list(stream)) == (
        b"",
        b"",
        [],
        [],
    )


def test_eof_is_remembered() -> None:
    source = PieceSource(b"ab", 4)
    stream = InputStream(source)
    assert stream.read() == b"ab"
    calls = source.calls
    assert stream.read() == b"" and stream.readline() == b""
    assert source.calls == calls


def test_body_errors_reach_the_app() -> None:
    stream = InputStream(PieceSource(b"partial", 3, error=BodyError(400, "broken chunk")))
    with pytest.raises(BodyError) as caught:
        stream.read()
    assert caught.value.status == 400


_OPS = st.lists(
    st.tuples(st.sampled_from(["read", "readline"]), st.one_of(st.none(), st.integers(-1, 40))),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=120), piece=st.integers(1, 50), ops=_OPS)
def test_any_mix_of_reads_matches_a_file(
    body: bytes, piece: int, ops: list[tuple[str, int | None]]
) -> None:
    """Whatever the pieces and the calls, the stream reads like an in-memory file."""
    stream = InputStream(PieceSource(body, piece))
    reference = io.BytesIO(body)
    for op, size in ops:
        assert getattr(stream, op)(size) == getattr(reference, op)(size), (op, size)
    assert stream.read() == reference.read()


def test_the_shared_input_of_a_request_without_a_body_reads_nothing() -> None:
    stream = EmptyInput()
    assert stream.read() == stream.read(10) == stream.read(None) == b""
    assert stream.readline() == stream.readline(5) == b""
    assert stream.readlines() == [] and list(stream) == []
