"""flux-core's listing formats in-process: conversions, ``h``/``+`` suffixes, ``?:``/``+:``
columns, sort prefixes, headers; the flux-jobs field table and named formats.

Expected texts are what flux-core 0.88's ``flux.util.OutputFormat`` prints for
the same formats and items.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flux.cmd._job_jobs_format import fields_to_attrs, format_string, job_format
from flux.cmd._job_outputformat import OutputFormat, fsd

HEADINGS = {"a": "AAA", "b": "B", "t": "TIME", "name": "NAME"}


def _items(*dicts):
    return [SimpleNamespace(**d) for d in dicts]


def test_fsd():
    assert [fsd(x) for x in (0.0001, 1.5, 43.29, 90, 7200, 200000, float("inf"))] == [
        "0s", "1.500s", "43.29s", "1.5m", "2h", "2.315d", "inf"]


def test_conversions_and_suffixes():
    fmt = OutputFormat("{a:>4h}|{t!F:>6h}|{name:<5.5+}|{b!H}|{t!P}", HEADINGS)
    item = SimpleNamespace(a="", t=0.5, name="abcdefgh", b=3700.2)
    assert fmt.format(item) == "   -|0.500s|abcd+|1:01:40|50%"
    item = SimpleNamespace(a=3, t=0.0, name="ab", b=0.4)
    assert fmt.format(item) == "   3|     -|ab   |0:00:01|0%"


def test_header_and_filter_sentinels():
    fmt = OutputFormat("{a:>5} ?:{b:<4} +:{name:<2}", HEADINGS)
    items = _items({"a": 1, "b": "", "name": "longname"}, {"a": 22, "b": "", "name": "x"})
    new = OutputFormat(fmt.filter(items), HEADINGS)
    assert new.header() == "  AAA NAME    "
    assert [new.format(i) for i in items] == ["    1 longname", "   22 x       "]
    items[1].b = "yes"
    new = OutputFormat(fmt.filter(items, no_header=True), HEADINGS)
    assert new.header() == "  AAA B    NAME    "


def test_sort_prefix_and_keys(capsys):
    fmt = OutputFormat("sort:-a,name {name} {a}", HEADINGS)
    assert fmt.sort_keys == [("a", True), ("name", False)]
    items = _items({"a": 1, "name": "z"}, {"a": 2, "name": "y"}, {"a": "", "name": "w"},
                   {"a": 2, "name": "x"})
    fmt.print_items(items)
    assert capsys.readouterr().out == "NAME AAA\nx 2\ny 2\nz 1\nw \n"
    with pytest.raises(ValueError, match="Invalid sort key: nosuch"):
        fmt.set_sort_keys("nosuch")
    with pytest.raises(ValueError, match="Unknown format field: nosuch"):
        OutputFormat("{nosuch}", HEADINGS)


def test_jobs_formats_fields_and_headings():
    default = format_string("default")
    assert default.startswith("{id.f58:>12} ?:{queue:<8.8} +:{username:<8}")
    fmt = job_format(default)
    assert job_format(fmt.filter([])).header() == (
        "       JOBID USER     NAME       ST NTASKS NNODES     TIME INFO")
    assert fields_to_attrs(fmt.fields) == {"queue", "userid", "name", "state", "result",
                                           "ntasks", "nnodes", "t_run", "t_cleanup",
                                           "duration", "dependencies", "annotations",
                                           "nodelist", "priority", "urgency"}
    assert job_format("{annotations.foo.bar} {user.x}").header() == "FOO.BAR USER.X"
    with pytest.raises(ValueError) as info:
        format_string("bogus")
    assert str(info.value) == "--format: No such format bogus (Did you mean '{bogus}'?)"


@pytest.mark.parametrize("except_fields,nullify,body,line", [
    (None, False, "{a:>4} | ?:{b} ::+:{name:<5.5} x{t!F:>6h}", "   1 | ?:2 ::+:abcde x3.000s"),
    (["b"], False, "{a:>4} | ?: ::+:{name:<5.5} x{t!F:>6h}", "   1 | ?: ::+:abcde x3.000s"),
    (["a", "name"], True, " | ?:{b} ::+: x{t!F:>6h}", " | ?:2 ::+: x3.000s"),
    (["t"], True, "{a:>4} | ?:{b}{name} x", "   1 | ?:2abcdefghij x"),
    (["b", "name"], False, "{a:>4} | ?: ::+: x{t!F:>6h}", "   1 | ?: ::+: x3.000s"),
])
def test_copy_as_flux_core(except_fields, nullify, body, line):
    """OutputFormat.copy drops fields (keeping literal text unless blank or a sentinel)
    and with nullify_expansion turns ``+:{f:<5.5}`` into ``{f}``: flux-core 0.88's
    flux.util.OutputFormat gives these formats and lines for the same calls."""
    fmt = OutputFormat("sort:-a,b {a:>4} | ?:{b} ::+:{name:<5.5} x{t!F:>6h}", HEADINGS)
    copy = fmt.copy(except_fields=except_fields, nullify_expansion=nullify)
    assert type(copy) is OutputFormat and copy is not fmt
    assert copy.sort_keys == [("a", True), ("b", False)]
    assert copy._sort_prefix() + "".join(
        (t or "") + ("{" + f + ("!" + c if c else "") + (":" + s if s else "") + "}" if f else "")
        for t, f, s, c in copy.format_list) == "sort:-a,b " + body
    item = SimpleNamespace(a=1, b=2, name="abcdefghij", t=3.0)
    assert copy.format(item) == line


def test_deduplicator_with_the_commands_outputformat():
    """flux.util.Deduplicator keys items by the copy without ``except_fields`` and with
    expansion nullified: names that differ past the column width stay apart."""
    from flux.util import Deduplicator

    fmt = OutputFormat("{a:>4} +:{name:<3.3} {b}", HEADINGS)
    combined = []
    dedup = Deduplicator(fmt, except_fields=["b"],
                         combine=lambda old, new: combined.append((old.b, new.b)))
    for a, name, b in ((1, "abcdef", 1), (1, "abcxyz", 2), (1, "abcdef", 3), (2, "abcdef", 4)):
        dedup.append(SimpleNamespace(a=a, name=name, b=b))
    assert [(i.a, i.name, i.b) for i in dedup] == [(1, "abcdef", 1), (1, "abcxyz", 2),
                                                   (2, "abcdef", 4)]
    assert combined == [(1, 3)]


def test_resource_status_merges_lines_as_flux_core():
    """``flux resource status`` folds lines through Deduplicator: drain reasons equal in
    their first 30 characters but not after stay on separate lines (flux-core 0.88)."""
    from flux.cmd._resource_sets import RankSet
    from flux.cmd._resource_status import HEADINGS as STATUS_HEADINGS, StatusLine, merge_lines

    hosts = RankSet(hosts={0: "n0", 1: "n1", 2: "n2", 3: "n3"})
    fmt = OutputFormat("{state:>10} {nnodes:>6} +:{reason:<30.30} {nodelist}", STATUS_HEADINGS)
    reason = "x" * 30
    lines = [StatusLine("drained", True, {rank}, hosts, reason=reason + tail)
             for rank, tail in ((0, "a"), (1, "b"), (2, "a"), (3, "b"))]
    merged = merge_lines(lines, fmt)
    assert [(line.reason[-1], line.nodelist) for line in merged] == [("a", "n[0,2]"),
                                                                     ("b", "n[1,3]")]
