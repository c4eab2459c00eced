"""Fuzzing the request parser: structured, mutated and raw streams (`wiregen`), random cuts,
random limits, checked by `parsecheck`.

`test_properties` covers small valid pipelines and random bytes; this extends it to valid
pipelines of every shape (chunk extensions and trailers, OWS, absolute and asterisk forms,
HTTP/1.0, Expect, Connection), to mutations of them (CR, LF, NUL, control and 8-bit bytes,
HTTP tokens spliced in, ranges duplicated, deleted or cut off), and to more properties:
only documented error statuses, the event grammar, a dead parser stays dead, and split
invariance for every stream, not only valid ones.

`make fuzz` runs the same checks far longer and with larger bodies, coverage-guided, and
sends every stream to a real server too (tests/server/fuzzserver.py).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsecheck import check_model, check_split_invariance, parse

from pronghorn.http.parser import ParserLimits
from wiregen import Stream, cuts, streams, wire_requests

# Bodies stay under the 8 KiB line bound here so the quick run stays quick; `make fuzz`
# draws them up to 64 KiB.
QUICK = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

limits = st.builds(
    ParserLimits,
    max_request_line=st.integers(1, 64),
    max_fields=st.integers(1, 8),
    max_field_size=st.integers(1, 64),
    max_body=st.integers(0, 64),
)


@QUICK
@given(stream=streams(), data=st.data(), limits=st.one_of(st.none(), limits))
def test_any_stream_parses_by_the_rules(
    stream: Stream, data: st.DataObject, limits: ParserLimits | None
) -> None:
    # No exception but a returned ProtocolError, with a documented status; events in the
    # order (head, body*, end)*, the error last; nothing after an error or a close.
    parse(stream.data, data.draw(cuts(len(stream.data))), limits)


@QUICK
@given(stream=streams(), data=st.data())
def test_any_stream_is_split_invariant(stream: Stream, data: st.DataObject) -> None:
    whole = parse(stream.data, [])
    for pieces in (data.draw(cuts(len(stream.data))), [1] * len(stream.data)):
        check_split_invariance(whole, parse(stream.data, pieces), pieces)


@settings(QUICK, max_examples=300)
@given(model=st.lists(wire_requests(), min_size=1, max_size=4), data=st.data())
def test_valid_pipelines_parse_as_modelled(model: list, data: st.DataObject) -> None:
    stream = Stream(b"".join(r.wire() for r in model), tuple(model), "valid")
    expected = stream.expected_requests()
    check_model(parse(stream.data, []), expected)
    check_model(parse(stream.data, data.draw(cuts(len(stream.data)))), expected)
