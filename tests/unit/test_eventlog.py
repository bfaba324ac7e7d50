"""flux.eventlog: RFC 18 entries read and written as flux-core's libeventlog does."""

from __future__ import annotations

import errno
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux import eventlog

RFC18_EXAMPLE = (
    '{"timestamp":1552593348.073045,"name":"submit","context":{"urgency":16,"userid":5588,"flags":0}}\n'
    '{"timestamp":1552593547.411336,"name":"urgency","context":{"urgency":0,"userid":5588}}\n'
    '{"timestamp":1552593348.093541,"name":"free"}\n'
)


def einval(fn, *args):
    with pytest.raises(OSError) as info:
        fn(*args)
    assert info.value.errno == errno.EINVAL


# -- jansson's text -----------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (1552593348.073045, "1552593348.073045"),  # %.17g
    (1552593547.411336, "1552593547.4113359"),
    (0.1, "0.10000000000000001"),
    (1.5, "1.5"),
    (5.0, "5.0"),  # a real always looks real
    (-0.0, "-0.0"),
    (1e20, "1e20"),  # no '+' in the exponent
    (1e-5, "1.0000000000000001e-5"),  # nor leading zeros
    (1e300, "1.0000000000000001e300"),
    (16, "16"),
    (-3, "-3"),
    (True, "true"),
    (None, "null"),
])
def test_numbers_and_constants_as_jansson_writes_them(value, text):
    assert eventlog.dumps(value) == text


def test_strings_escape_as_jansson():
    assert eventlog.dumps("a\"b\\c\n\t\x01\x1f/é\x7f") == '"a\\"b\\\\c\\n\\t\\u0001\\u001F/é\x7f"'
    assert eventlog.dumps("back\\u00ff") == '"back\\\\u00ff"'  # a literal backslash-u stays


def test_containers_keep_insertion_order_compact():
    assert eventlog.dumps({"b": [1, 2.0, {"z": None}], "a": "x"}) == '{"b":[1,2.0,{"z":null}],"a":"x"}'


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a":-Infinity}', "[1e400]",
                                  "[9223372036854775808]", "[-9223372036854775809]"])
def test_loads_refuses_what_jansson_refuses(text):
    with pytest.raises(ValueError):
        eventlog.loads(text)


def test_loads_accepts_int64_limits():
    assert eventlog.loads("[9223372036854775807,-9223372036854775808]") == [2**63 - 1, -2**63]


@given(st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                    lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=10))
def test_dumps_then_loads_round_trips(value):
    assert eventlog.loads(eventlog.dumps(value)) == value
    assert "\n" not in eventlog.dumps(value)  # entries stay one line


# -- entries ---------------------------------------------------------------------------------

def test_decode_rfc18_example():
    entries = eventlog.decode(RFC18_EXAMPLE)
    assert [e["name"] for e in entries] == ["submit", "urgency", "free"]
    assert entries[0]["context"] == {"urgency": 16, "userid": 5588, "flags": 0}
    assert list(entries[0]["context"]) == ["urgency", "userid", "flags"]
    assert eventlog.encode(entries) == RFC18_EXAMPLE.replace("7.411336,", "7.4113359,") \
        .replace("8.093541,", "8.0935409,")


def test_decode_edge_cases_as_flux_core():
    assert eventlog.decode("") == []
    assert eventlog.decode(b"") == []
    einval(eventlog.decode, '{"timestamp":1,"name":"a"}')  # no newline at all
    # text after the last newline is not read
    assert eventlog.decode('{"timestamp":1,"name":"a"}\n{"timestam') == [{"timestamp": 1, "name": "a"}]
    einval(eventlog.decode, '{"timestamp":1,"name":"a"}\n\n')  # an empty line
    einval(eventlog.decode, "[]\n")
    einval(eventlog.decode, '{"name":"a"}\n')
    einval(eventlog.decode, '{"timestamp":"1","name":"a"}\n')
    einval(eventlog.decode, '{"timestamp":true,"name":"a"}\n')
    einval(eventlog.decode, '{"timestamp":1,"name":2}\n')
    einval(eventlog.decode, '{"timestamp":1,"name":"a","context":[]}\n')
    einval(eventlog.decode, '{"timestamp":NaN,"name":"a"}\n')
    einval(eventlog.decode, b'{"timestamp":1,"name":"\xff"}\n')
    # bytes are read as the C string they are: up to the first NUL
    assert eventlog.decode(b'{"timestamp":1,"name":"a"}\n\0garbage') == [{"timestamp": 1, "name": "a"}]
    # other members are allowed, and surrounding spaces
    assert eventlog.decode(' {"timestamp":1.5,"name":"a","x":1} \n') == [
        {"timestamp": 1.5, "name": "a", "x": 1}]


def test_decode_entry_needs_exactly_one_trailing_newline():
    assert eventlog.decode_entry('{"timestamp":1,"name":"a"}\n')["name"] == "a"
    einval(eventlog.decode_entry, '{"timestamp":1,"name":"a"}')
    einval(eventlog.decode_entry, '{"timestamp":1,\n"name":"a"}\n')
    einval(eventlog.decode_entry, "\n")


def test_entry_create_and_encode():
    entry = eventlog.entry_create(1.5, "start", '{"b":1,"a":[2.0,"x"]}')
    assert eventlog.encode_entry(entry) == \
        '{"timestamp":1.5,"name":"start","context":{"b":1,"a":[2.0,"x"]}}\n'
    assert eventlog.encode_entry(eventlog.entry_create(42, "x")) == '{"timestamp":42.0,"name":"x"}\n'


def test_entry_create_zero_means_now():
    import time

    before = time.time()
    entry = eventlog.entry_create(0, "now")
    assert before <= entry["timestamp"] <= time.time()


@pytest.mark.parametrize("args", [(-1.0, "a", None), (1.0, "", None), (1.0, "a", "[1]"),
                                  (1.0, "a", "1"), (1.0, "a", "{bad"), (1.0, "a", ""),
                                  (1.0, "a", "{} {}"), (1.0, "a", '{"a":NaN}')])
def test_entry_create_refuses(args):
    einval(eventlog.entry_create, *args)


def test_entry_parse_and_validate():
    assert eventlog.entry_parse({"timestamp": 2, "name": "n", "context": {"k": 1}}) == (2.0, "n", {"k": 1})
    assert eventlog.entry_parse({"timestamp": 2.5, "name": "n"}) == (2.5, "n", None)
    einval(eventlog.entry_parse, {"timestamp": 2, "name": "n", "context": None})
    assert not eventlog.entry_validate([])
    einval(eventlog.encode_entry, {"name": "n"})
    einval(eventlog.encode, {"not": "a list"})


def test_contains_event():
    assert eventlog.contains_event(RFC18_EXAMPLE, "urgency")
    assert not eventlog.contains_event(RFC18_EXAMPLE, "alloc")
    einval(eventlog.contains_event, "junk\n", "x")


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False), st.text(min_size=1),
       st.dictionaries(st.text(), st.integers(-2**63, 2**63 - 1) | st.text(), max_size=4))
def test_entries_round_trip(timestamp, name, context):
    entry = eventlog.entry_build(timestamp or 1.0, name, context)
    line = eventlog.encode_entry(entry)
    assert line.count("\n") == 1
    assert eventlog.decode_entry(line) == entry
    assert eventlog.decode(line * 2) == [entry, entry]
    assert json.loads(line) == entry  # plain JSON readers agree
