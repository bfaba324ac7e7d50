"""flux.util's names beyond the messaging helpers (expected values checked against
flux-core 0.88's flux.util on the same inputs)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone

import pytest

import flux.util as u
from proctree import run_tree


@pytest.mark.parametrize("text, seconds", [
    ("1", 1.0), ("1.5", 1.5), ("1.5m", 90.0), ("2h", 7200.0), ("1d", 86400.0),
    ("10ms", 0.01), ("0.5ms", 0.0005), (" 2s", 2.0), ("1e3s", 1000.0),
    ("inf", math.inf), ("INFINITY", math.inf),
])
def test_parse_fsd(text, seconds):
    assert u.parse_fsd(text) == seconds


@pytest.mark.parametrize("text", ["Inf", "-1", "nan", "1e400", "abc", "", "1x", "m", "infs"])
def test_parse_fsd_invalid(text):
    with pytest.raises(ValueError, match="^invalid Flux standard duration$"):
        u.parse_fsd(text)


def test_fsd_and_format_names():
    assert [u.fsd(x) for x in (0, 0.0005, 1.5, 10, 59.9, 90, 3600, 86400, 1e9, math.inf)] == [
        "0s", "0s", "1.500s", "10s", "59.9s", "1.5m", "1h", "1d", "1.157e+04d", "inf"]
    from flux.cmd import _job_outputformat

    assert u.OutputFormat is _job_outputformat.OutputFormat  # one implementation
    assert u.UtilFormatter is _job_outputformat.UtilFormatter
    assert "" in u.empty_outputs() and "0s" in u.empty_outputs()
    with pytest.raises(AttributeError):
        u.no_such_name  # noqa: B018


def test_parse_datetime():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert u.parse_datetime("now", now=now) is now
    assert u.parse_datetime("+1h", now=now).timestamp() == now.timestamp() + 3600
    assert u.parse_datetime("-30m", now=now).timestamp() == now.timestamp() - 1800
    assert u.parse_datetime("2026-03-04T05:06:07+00:00") == datetime(2026, 3, 4, 5, 6, 7,
                                                                     tzinfo=timezone.utc)
    assert u.parse_datetime("10:30", now=now).hour == 10
    with pytest.raises(ValueError, match='Invalid datetime: "whenever"'):
        u.parse_datetime("whenever")
    with pytest.raises(ValueError):
        u.parse_datetime("+forever")


def test_treedict():
    d = {"a": {"b": {"c": 1}}, "x": 5}
    assert [u.get_treedict(d, k, "D") for k in ("a.b.c", "a.b", "a.z.c", "q")] == \
        [1, {"c": 1}, "D", "D"]
    e: dict = {}
    u.set_treedict(e, "a.b.c", 1)
    u.set_treedict(e, "a.d", 2)
    assert e == {"a": {"b": {"c": 1}, "d": 2}}
    f = {"a": {"b": {"c": 1}}}
    u.del_treedict(f, "a.b.c", remove_empty=True)
    assert f == {}
    f = {"a": {"b": {"c": 1}}}
    u.del_treedict(f, "a.b.c")
    assert f == {"a": {"b": {}}}
    with pytest.raises(KeyError):
        u.del_treedict({"a": {}}, "a.b")
    assert u.dict_merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 3, "e": {"f": 1}}, "d": {"x": 1}}) \
        == {"a": {"b": 3, "c": 2, "e": {"f": 1}}, "d": {"x": 1}}


def test_tree(capsys):
    t = u.Tree("root", prefix="P", combine_children=True)
    a = t.append("a")
    a.append("a1")
    a.append("a2").append("deep")
    t.append("b")
    t.append("b")
    t.append("c", prefix="x")
    t.add("d")
    t.render(style="box")
    t.render(style="ascii", level=1)
    t.render(skip_root=True, level=0)
    assert capsys.readouterr().out == (
        "P root\n├── a\n│   ├── a1\n│   └── a2\n│       └── deep\n├── 2*[b]\nx ├── c\n└── d\n"
        "P root\n|-- a\n|-- 2*[b]\nx |-- c\n`-- d\n"
        "a\n2*[b]\nx c\nd\n")


def test_help_formatter_and_actions(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    p = argparse.ArgumentParser(prog="x", formatter_class=u.help_formatter())
    p.add_argument("-a", "--all", action="store_true", help="all")
    p.add_argument("--only-long", metavar="N", help="long")
    p.add_argument("-c", "--color", action=u.ColorAction)
    p.add_argument("--yes", action=u.YesNoAction)
    p.add_argument("--set", action=u.TreedictAction, nargs="+")
    p.add_argument("-u", "--user", action=u.FilterActionUser)
    help_text = p.format_help()
    assert "  -a, --all " in help_text and "      --only-long=N " in help_text
    assert "  -c, --color=[WHEN] " in help_text
    args = p.parse_args(["--set", "a.b=1", "c=x", "--yes=no", "-u", "bob", "-c"])
    assert args.set == {"a": {"b": 1}, "c": "x"} and args.yes is False
    assert args.color == "always" and args.color.enabled and args.filtereduser
    assert p.parse_args([]).color == "auto"
    monkeypatch.setenv("NO_COLOR", "1")
    p2 = argparse.ArgumentParser()
    p2.add_argument("--color", action=u.ColorAction)
    assert p2.parse_args([]).color == "never" and not p2.parse_args([]).color.enabled
    with pytest.raises(ValueError, match="--yes requires either 'yes' or 'no'"):
        p.parse_args(["--yes=maybe"])


@pytest.mark.parametrize("exc, line", [
    ("OSError(2, 'No such file', 'foo.txt')", "flux-x: ERROR: No such file: 'foo.txt'"),
    ("ValueError('bad value')", "flux-x: ERROR: bad value"),
    ("SystemExit(3)", None),
])
def test_climain(exc, line):
    code = ("import logging, flux.util\n"
            f"def main():\n    raise {exc}\n"
            "flux.util.CLIMain(logging.getLogger('flux-x'))(main)\n")
    r = run_tree([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    if line is None:
        assert (r.returncode, r.stderr) == (3, "")
    else:
        assert (r.returncode, r.stderr) == (1, line + "\n")


def test_util_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", f"{tmp_path}/sys1:{tmp_path}/sys2")
    for sub, name, text in [
            ("sys2", "t.toml", 'a = 1\n[formats.x]\nformat = "{id}"\ndescription = "ids"\n'),
            ("sys1", "t.json", '{"a": 2, "b": {"c": 1}}'),
            ("home", "t.yaml", "b:\n  d: 3\nsub:\n  formats:\n    y:\n      format: '{y}'\n")]:
        (tmp_path / sub / "flux").mkdir(parents=True, exist_ok=True)
        (tmp_path / sub / "flux" / name).write_text(text)
    assert u.xdg_searchpath("s")[0] == tmp_path / "home" / "flux" / "s"
    c = u.UtilConfig("t").load()
    assert c.dict == {"a": 2, "formats": {"x": {"format": "{id}", "description": "ids"}},
                      "b": {"c": 1, "d": 3}, "sub": {"formats": {"y": {"format": "{y}"}}}}
    assert c.a == 2 and c.get_format_string("x") == "{id}"
    assert c.get_format_string("{free}") == "{free}"
    with pytest.raises(ValueError, match=r"No such format nope id \(Did you mean '\{nope\} \{id\}'\?\)"):
        c.get_format_string("nope id")
    with pytest.raises(SystemExit):
        c.get_format_string("help")
    assert "  x            ids" in capsys.readouterr().out
    monkeypatch.setenv("T_SUB_FORMAT_DEFAULT", "y")
    c2 = u.UtilConfig("t", subcommand="sub").load()
    assert c2.get_format_string("default") == "{y}"
    with pytest.raises(ValueError, match="override of builtin format 'x'"):
        c2.builtin_formats = {"x": {}}
        c2.validate_formats("p", {"x": {"format": "{a}"}})
    (tmp_path / "home" / "flux" / "t.json").write_text("{bad")
    with pytest.raises(ValueError, match=r"t\.json: Expecting property name"):
        u.UtilConfig("t").load()


def test_fileref_and_deduplicator(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("hello")
    ref = u.Fileref(str(text))
    assert (ref["data"], ref["encoding"], ref["size"]) == ("hello", "utf-8", 5)
    blob = tmp_path / "b.bin"
    blob.write_bytes(b"\xff\x00")
    assert u.Fileref(str(blob))["encoding"] == "base64"
    assert u.Fileref({"k": 1}) == {"mode": 0o100600, "data": {"k": 1}}
    assert json.loads(json.dumps(u.Fileref("aGk=", encoding="base64")))["encoding"] == "base64"
    with pytest.raises(ValueError):
        u.Fileref("x", encoding="rot13")

    class LineFormat:
        """A formatter with flux-core's OutputFormat.copy/format contract."""

        def __init__(self, fields):
            self.fields = fields

        def copy(self, except_fields=None, nullify_expansion=False):
            return LineFormat([f for f in self.fields if f not in (except_fields or [])])

        def format(self, item):
            return " ".join(str(item[f]) for f in self.fields)

    merged = []
    dedup = u.Deduplicator(LineFormat(["state", "count"]), except_fields=["count"],
                           combine=lambda old, new: merged.append((old, new)))
    for item in ({"state": "up", "count": 1}, {"state": "down", "count": 2},
                 {"state": "up", "count": 3}):
        dedup.append(item)
    assert [i["state"] for i in dedup] == ["up", "down"] == [i["state"] for i in dedup]
    assert merged == [({"state": "up", "count": 1}, {"state": "up", "count": 3})]


def test_import_stays_light():
    code = ("import sys, flux.util\n"
            "print(sorted(m for m in ('argparse', 'yaml', 'tomllib', 'flux.cmd', 'flux._util_cli')"
            " if m in sys.modules))")
    r = run_tree([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "[]", r.stderr
