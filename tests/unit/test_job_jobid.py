"""flux.job.JobID and its text encodings: RFC 19's examples, flux-core's behaviour, round trips."""

from __future__ import annotations

import errno
import hashlib
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import flux.job
from flux.job import JobID, fluid_codec, id_encode, id_parse
from flux.job.basemoji import DIGITS as EMOJI
from proctree import run_tree

U64 = st.integers(min_value=0, max_value=2**64 - 1)
CODABLE = ("dec", "hex", "dothex", "kvs", "words", "f58", "f58plain", "emoji")


@pytest.fixture(autouse=True)
def _unicode_f58(monkeypatch):
    monkeypatch.delenv("FLUX_F58_FORCE_ASCII", raising=False)
    monkeypatch.setattr(fluid_codec, "f58_prefix", lambda: fluid_codec.F58_PREFIX)


# -- known values -------------------------------------------------------------------------

#: The same id in every encoding, as flux-core writes them (its python binding test values).
VECTORS = [
    (0, "0x0", "0000.0000.0000.0000", "ƒ1", "😃"),
    (1, "0x1", "0000.0000.0000.0001", "ƒ2", "😄"),
    (65535, "0xffff", "0000.0000.0000.ffff", "ƒLUv", "💁📚"),
    (6787342413402046, "0x181d0d4d850fbe", "0018.1d0d.4d85.0fbe", "ƒuzzybunny", "👴😱🔚🎮🕙🚩"),
    (2**64 - 2, "0xfffffffffffffffe", "ffff.ffff.ffff.fffe", "ƒjpXCZedGfVP", "🚹💗💧👗😷📷📙"),
]


@pytest.mark.parametrize(("value", "hex_", "dothex", "f58", "emoji"), VECTORS)
def test_known_values_in_every_encoding(value, hex_, dothex, f58, emoji):
    texts = {"dec": str(value), "hex": hex_, "dothex": dothex, "kvs": "job." + dothex,
             "f58": f58, "f58plain": "f" + f58[1:], "emoji": emoji}
    for kind, text in texts.items():
        jobid = JobID(text)
        assert jobid == value and repr(jobid) == f"JobID({value})"
        assert jobid.orig == text
        assert getattr(jobid, kind) == text
        assert id_encode(value, kind) == text and id_parse(text) == value
    assert str(JobID(value)) == f58


def test_rfc19_examples():
    # the F58 example is given with its decimal value; hex and dothex examples come in pairs
    assert JobID("6731191091817518").f58 == "ƒuZZybuNNy" and JobID("ƒuZZybuNNy") == 6731191091817518
    assert JobID("0x17e9fb8df16c2e") == JobID("0017.e9fb.8df1.6c2e") == 6731191091817518
    assert JobID("0xedaf97d000000") == JobID("000e.daf9.7d00.0000")
    assert JobID("0x17e9fb8df16c2e").hex == "0x17e9fb8df16c2e"
    assert JobID("0xedaf97d000000").dothex == "000e.daf9.7d00.0000"
    for f58 in ("ƒZemgA8Bzf", "ƒ278oEf7zGf"):
        assert JobID(f58).f58 == f58
    for emoji in ("🚹💂🙌😳💱🏃", "😄😹🎇📥🏧🙉🔞", "🚹💂🈳💰🎩🏃"):
        assert JobID(emoji).emoji == emoji


def test_f58_alphabet_is_rfc19s():
    assert fluid_codec.F58_ALPHABET == "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    assert fluid_codec.F58_PREFIX == "\u0192"


def test_emoji_table_is_rfc19s():
    assert len(EMOJI) == len(set(EMOJI)) == 576
    assert all(len(e.encode()) == 4 and e.encode()[:2] == b"\xf0\x9f" for e in EMOJI)
    assert EMOJI[0] == "\U0001F603" and EMOJI[1] == "\U0001F604"  # the RFC names these two
    # the whole table as RFC 19's data/spec_19/basemoji.h lists it, in order
    assert hashlib.sha256(EMOJI.encode()).hexdigest() == \
        "eee04299536d3f17f268cf1629514ec7e29c1e775a9d2ad6f6c53127486b1b2c"


# -- round trips ---------------------------------------------------------------------------


@given(U64, st.sampled_from(CODABLE))
def test_every_encoding_round_trips(value, kind):
    text = id_encode(value, kind)
    assert id_parse(text) == value
    jobid = JobID(text)
    assert jobid == value and jobid.orig == text and jobid.encode(kind) == text


@given(U64, st.sampled_from(CODABLE), st.text(" \t\n", max_size=3), st.text(" \t\n", max_size=3))
def test_surrounding_whitespace_is_ignored(value, kind, before, after):
    assert JobID(before + id_encode(value, kind) + after) == value


@given(U64)
def test_shortest_forms(value):
    assert id_encode(value, "dec") == str(value)
    assert id_encode(value, "hex") == hex(value)
    f58 = id_encode(value, "f58plain")[1:]
    assert f58 == "1" if value == 0 else not f58.startswith("1")
    assert len(id_encode(value, "dothex")) == 19


def test_f58_ascii_prefix(monkeypatch):
    monkeypatch.undo()  # the real prefix choice
    monkeypatch.setenv("FLUX_F58_FORCE_ASCII", "1")
    assert JobID(6787342413402046).f58 == "fuzzybunny" == str(JobID(6787342413402046))
    monkeypatch.delenv("FLUX_F58_FORCE_ASCII")
    assert fluid_codec.f58_prefix() in ("ƒ", "f")
    assert JobID(6787342413402046).f58plain == "fuzzybunny"


def test_encoding_names_ignore_case():
    assert id_encode(255, "HEX") == "0xff" and JobID(255).encode("DotHex") == "0000.0000.0000.00ff"
    assert JobID(255).encode() == "255"
    assert id_encode(1) == "ƒ2"


def test_a_kvs_prefix_is_dropped_before_anything_else():
    assert JobID("job.42") == 42 and JobID("job.ƒ2") == 1


# -- the JobID object ----------------------------------------------------------------------


def test_jobid_is_an_int():
    jobid = JobID("ƒ2")
    assert isinstance(jobid, int) and jobid + 1 == 2 and hash(jobid) == hash(1)
    assert {jobid: "x"}[1] == "x"


def test_jobid_of_a_jobid_keeps_the_original_text():
    assert JobID(JobID(1234)).orig == "1234"
    again = JobID(JobID("ƒuzzybunny"))
    assert again == 6787342413402046 and again.orig == "ƒuzzybunny"


def test_bytes_are_text():
    assert JobID(b"0x10") == 16 and JobID(b"0x10").orig == "0x10" and id_parse(b"17") == 17


def test_package_exports():
    from flux.job.JobID import JobID as Same
    assert Same is flux.job.JobID
    assert {"JobID", "id_parse", "id_encode"} <= set(flux.job.__all__)


# -- errors, as flux-core raises them ------------------------------------------------------

INVALID = [
    "", "   ", "invalid", "-1", "+1", "1_000", "١٢٣", "0X10", "0x", "0xg", "12a", "1.5e3",
    "0.0.0", "0.0.0.0.0", "0.0.0.g", "00000.0.0.0", "0..0.0", "job.0.0", "job.0.0.0.0.0",
    "notjob.0.0.0.0", "job.", "f", "ƒ", "f0", "fO", "fI", "fl", "f+1",
    "invalid-words-test", "foo-bar-baz--qux-quux-corge", "acrobat-academy-academy",
    "acrobat-academy-academy--academy-academy-academy-academy",
    "academy-academy-academy--academy-academy-ego", "acrobat-academy-academy--academy-academy-acad3my",
    "🦄", "😃x", "😃😃😃😃😃😃😃😃",
    str(2**64), hex(2**64), "f" + "z" * 12, "f" + "1" * 13, EMOJI[-1] * 7,
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_text_raises_value_error(text):
    with pytest.raises(ValueError, match="is not a valid Flux jobid"):
        JobID(text)
    with pytest.raises(OSError) as info:
        id_parse(text)
    assert info.value.errno == errno.EINVAL


def test_largest_values_parse():
    top = 2**64 - 1
    assert JobID(str(top)) == JobID(hex(top)) == JobID("ffff.ffff.ffff.ffff") == top
    assert JobID(JobID(top).f58) == JobID(JobID(top).emoji) == top


def test_unknown_encoding_is_eproto():
    with pytest.raises(OSError) as info:
        id_encode(1, "base64")
    assert info.value.errno == errno.EPROTO
    with pytest.raises(OSError):
        JobID(1).encode("nope")


# printed by flux-core 0.88's `flux job id --to=words N`
WORDS = [
    (0, "academy-academy-academy--academy-academy-academy"),
    (1, "acrobat-academy-academy--academy-academy-academy"),
    (123, "century-academy-academy--academy-academy-academy"),
    (1796212100891500, "social-prelude-italian--havana-exit-academy"),
    (2**64 - 2, "mustang-analyze-verbal--natural-analyze-verbal"),
]


@pytest.mark.parametrize("value,words", WORDS)
def test_words_as_flux_core_writes_them(value, words):
    assert JobID(value).words == id_encode(value, "words") == words
    assert JobID(words) == value


def test_words_parse_as_flux_core_reads_them():
    # flux-core's decoder ignores case and takes the words whatever separates them
    assert JobID("ACROBAT-academy-academy--academy-academy-academy") == 1
    assert JobID("acrobat-academy-academy-academy-academy-academy") == 1
    assert JobID(" acrobat-academy-academy--academy-academy-academy ") == 1


@pytest.mark.parametrize("value", [-1, 2**64])
def test_out_of_range_ints_do_not_encode(value):
    jobid = JobID(value)  # as in flux-core, an int is taken as is
    assert jobid == value and jobid.orig == str(value)
    with pytest.raises(OverflowError):
        jobid.f58  # noqa: B018


@pytest.mark.parametrize("value", [1.5, None, [1]])
def test_other_types_raise_type_error(value):
    with pytest.raises(TypeError):
        JobID(value)


def test_import_stays_light():
    code = ("import sys, flux.job; "
            "print(sorted(m for m in ('re', 'typing', 'locale', 'flux.core.handle', 'flux.message')"
            " if m in sys.modules))")
    out = run_tree([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                   check=True).stdout
    assert out.strip() == "[]"
