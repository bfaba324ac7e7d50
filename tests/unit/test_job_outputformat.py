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
