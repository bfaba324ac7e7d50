"""flux.codec.encode_stream_many (one response encoded for many payloads) writes
exactly what encode_stream writes for each."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from flux.codec import encode_stream, encode_stream_many

from tests.unit.test_codec import BOUNDARY_SIZES, SETTINGS, messages

PAYLOADS = st.lists(st.one_of(st.none(), st.just(b""), st.binary(max_size=300),
                              st.sampled_from(BOUNDARY_SIZES).map(lambda n: b"x" * n)),
                    max_size=6)


@SETTINGS
@given(messages(), PAYLOADS)
def test_each_equals_encode_stream(msg, payloads):
    before = copy.copy(msg._payload)
    want = []
    for payload in payloads:
        one = copy.copy(msg)
        one.routes = list(msg.routes)
        one._payload = payload or None
        want.append(encode_stream(one))
    assert encode_stream_many(msg, payloads) == want
    assert msg._payload == before  # the message itself is left as it was
