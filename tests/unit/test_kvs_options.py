"""flux kvs's option parsing and usage texts, as flux-core's liboptparse (over glibc getopt)."""

from __future__ import annotations

import pytest

from flux.cmd import kvs
from flux.cmd._kvs_options import (
    OPTIONAL,
    Command,
    Opt,
    c_strtod,
    c_strtol,
    fsd_parse_duration,
    segments,
)

GET_USAGE = """\
Usage: flux-kvs get [-N ns] [-r|-t] [-a treeobj] [-l] [-W] [-w] [-u] [-A] [-f] [-S] [-c COUNT] key [key...]
Get value stored under key
  -h, --help             Display this message.
  -N, --namespace        Specify KVS namespace to use.
  -r, --raw              Interpret value(s) as raw data
  -t, --treeobj          Show RFC 11 object
  -a, --at               Lookup relative to RFC 11 snapshot reference
  -l, --label            Print key= before value
  -W, --waitcreate       Wait for creation to occur on watch
  -w, --watch            Monitor key writes
  -u, --uniq             Only monitor key writes if values have changed
  -A, --append           Only monitor key appends
  -f, --full             Monitor key changes with more complete accuracy
  -c, --count=COUNT      Display at most COUNT changes
  -S, --stream           Return potentially large values in multiple responses.
"""

NAMESPACE_USAGE = """\
Usage: flux-kvs namespace create [-o owner] [-r rootref] name [name...]
   or: flux-kvs namespace remove name [name...]
   or: flux-kvs namespace list 
Perform KVS namespace operations
  -h, --help             Display this message.
"""  # noqa: W291 (flux-core's usage line ends in a space)


@pytest.fixture(autouse=True)
def columns80(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def sub(name, nested=None):
    return kvs.make_command("flux-kvs", name, kvs.SUBCOMMANDS[name], nested)


def evsub(name):
    return sub("eventlog", kvs.EVENTLOG_SUBCOMMANDS).subcommands[name]


def test_subcommand_usage_text():
    assert sub("get").usage_text() == GET_USAGE


def test_nested_usage_lists_the_subcommands():
    assert sub("namespace", kvs.NAMESPACE_SUBCOMMANDS).usage_text() == NAMESPACE_USAGE


def test_long_option_names_and_descriptions_wrap():
    text = evsub("append").usage_text()
    assert "  -t, --timestamp=SECONDS\n                         Specify timestamp in seconds" \
        " since epoch\n" in text
    text = evsub("get").usage_text()
    assert ("  -L, --color=WHEN       Colorize output when supported; WHEN can be 'always'\n"
            "                         (default if omitted), 'never', or 'auto' (default).\n") in text


def test_usage_without_usage_line():
    assert sub("sync").usage_text() == (
        "Usage: flux-kvs sync [OPTIONS]...\nsync content and checkpoint to disk\n"
        "  -h, --help             Display this message.\n")


def test_columns_from_environment(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    assert "  -u, --uniq             Only monitor\n                         key writes if\n" \
        in sub("get").usage_text()
    for bad in ("300", "16", "40x"):
        monkeypatch.setenv("COLUMNS", bad)
        assert sub("get").usage_text() == GET_USAGE


def test_segments_break_words_like_liboptparse():
    assert segments("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert segments("aaaaaaaaaa", 4) == ["aaa-", "aaa-", "aaaa"]
    assert segments("ab  cd", 3) == ["ab", "cd"]
    assert segments("ab   cd", 3) == ["ab", " cd"]
    assert segments("", 5) == []


def test_parse_forms():
    get = sub("get")
    p = get.parse(["get", "-N", "ns1", "-rl", "-c5", "--at=X", "--names", "ns2", "k1", "-r", "k2"])
    assert p.get_str("namespace") == "ns2"  # the last one given
    assert p.hasopt("raw") and p.hasopt("label") and not p.hasopt("treeobj")
    assert p.get_int("count", 0) == 5
    assert p.get_str("at") == "X"
    assert p.args == ["k1", "-r", "k2"]  # options stop at the first operand (POSIX order)
    p = get.parse(["get", "-c", "-1", "--", "-r"])
    assert p.get_int("count", 0) == -1 and p.args == ["-r"] and not p.hasopt("raw")
    p = get.parse(["get", "-", "x"])
    assert p.args == ["-", "x"]
    assert get.parse(["get"]).args == []


@pytest.mark.parametrize("argv, message", [
    (["-x"], "flux-kvs get: unrecognized option '-x'\nTry `flux-kvs get --help' for more information.\n"),
    (["-rZl"], "flux-kvs get: unrecognized option '-Z'\nTry `flux-kvs get --help' for more information.\n"),
    (["--bogus=1"], ("flux-kvs get: unrecognized option '--bogus=1'\n"
                     "Try `flux-kvs get --help' for more information.\n")),
    (["--raw=1"], "flux-kvs get: unrecognized option '-r'\nTry `flux-kvs get --help' for more information.\n"),
    (["-c"], "flux-kvs get: '-c' missing argument\n"),
    (["-lc"], "flux-kvs get: '-lc' missing argument\n"),
    (["--count"], "flux-kvs get: '--count' missing argument\n"),
    (["-:"], "flux-kvs get: unrecognized option '-:'\nTry `flux-kvs get --help' for more information.\n"),
])
def test_parse_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        sub("get").parse(["get", *argv])
    assert info.value.code == 1
    assert capsys.readouterr() == ("", message)


def test_ambiguous_prefix_is_unrecognized(capsys):
    with pytest.raises(SystemExit):
        sub("readlink").parse(["readlink", "--names"])
    assert "unrecognized option '--names'" in capsys.readouterr().err
    assert sub("readlink").parse(["readlink", "--namespace-o", "k"]).hasopt("namespace-only")


def test_help_prints_usage_on_stderr_and_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        sub("get").parse(["get", "-r", "--help", "-x"])
    assert info.value.code == 0
    assert capsys.readouterr() == ("", GET_USAGE)


def test_number_options(capsys):
    p = sub("get").parse(["get", "-c", "x5"])
    with pytest.raises(SystemExit) as info:
        p.get_int("count", 0)
    assert info.value.code == 1
    assert capsys.readouterr().err == "flux-kvs get: get: Option 'count' requires an integer argument\n"
    for bad in ("", "5 ", "99999999999"):
        with pytest.raises(SystemExit):
            sub("get").parse(["get", f"--count={bad}"]).get_int("count", 0)
    assert sub("get").parse(["get", "-c", " 7"]).get_int("count", 0) == 7
    append = evsub("append")
    assert append.parse(["append", "-t", "1.5e3"]).get_double("timestamp", 0.0) == 1500.0
    assert append.parse(["append"]).get_double("timestamp", 0.0) == 0.0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        append.parse(["append", "-t", "1.5x"]).get_double("timestamp", 0.0)
    assert capsys.readouterr().err == \
        "flux-kvs eventlog append: append: Option 'timestamp' requires a floating point argument\n"
    wait = evsub("wait-event")
    assert wait.parse(["wait-event", "-t", "2m"]).get_duration("timeout", -1.0) == 120.0
    with pytest.raises(SystemExit):
        wait.parse(["wait-event", "-t", "2y"]).get_duration("timeout", -1.0)
    assert capsys.readouterr().err == \
        "flux-kvs eventlog wait-event: wait-event: Invalid argument for option 'timeout': '2y'\n"


def test_color_option(capsys, monkeypatch):
    get = evsub("get")
    assert get.parse(["get", "-L"]).get_color() is True
    assert get.parse(["get", "--color"]).get_color() is True
    assert get.parse(["get", "-Lnever"]).get_color() is False
    assert get.parse(["get", "--color=always"]).get_color() is True
    assert get.parse(["get"]).get_color() is False  # auto, and stdout is not a tty here
    p = get.parse(["get", "-L", "never"])  # -L takes no separate argument
    assert p.get_color() is True and p.args == ["never"]
    monkeypatch.setenv("NO_COLOR", "1")
    assert get.parse(["get"]).get_color() is False
    with pytest.raises(SystemExit):
        get.parse(["get", "--color=sometimes"]).get_color()
    assert capsys.readouterr().err == "flux-kvs eventlog get: Invalid argument to --color: 'sometimes'"


def test_optional_argument_without_short_form():
    cmd = Command("prog", "", None, [Opt("x", "extra", "An extra", OPTIONAL, "V"),
                                     Opt("y", "why", "Why")])
    p = cmd.parse(["prog", "-xy"])  # no short optional argument: -x, then -y
    assert p.hasopt("why") and p.hasopt("extra") and p.get_str("extra") is None
    assert cmd.parse(["prog", "--extra=3"]).get_str("extra") == "3"


def test_c_numbers():
    assert c_strtol("  -12abc") == (-12, 5, False)
    assert c_strtol("x") == (0, 0, False)
    assert c_strtol("-1", unsigned=True) == (2**64 - 1, 2, False)
    assert c_strtol("99999999999999999999")[2] is True
    assert c_strtod("0x1p4") == (16.0, 5, False)
    assert c_strtod("1e999")[2] is True
    assert c_strtod("inf")[0] == float("inf")
    assert fsd_parse_duration("1.5") == 1.5
    assert fsd_parse_duration("10ms") == pytest.approx(0.01)
    assert fsd_parse_duration("inf") == float("inf")
    for bad in ("-1", "infs", "1x", "nan"):
        assert fsd_parse_duration(bad) is None


def test_top_level_usage(capsys):
    with pytest.raises(SystemExit) as info:
        kvs.main([])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Usage: flux-kvs [OPTIONS] COMMAND ARGS\n"
                          "  -h, --help             Display this message.\n\n"
                          "Common commands from flux-kvs:\n"
                          "   namespace       Perform KVS namespace operations\n"
                          "   get             Get value stored under key\n")
    assert "   eventlog        Manipulate a KVS eventlog\n" in err
    for argv in (["--help"], ["nosuch"], ["-h", "get"]):
        with pytest.raises(SystemExit) as info:
            kvs.main(argv)
        assert info.value.code == 1
        assert capsys.readouterr().err == err
    with pytest.raises(SystemExit):
        kvs.main(["-x"])
    assert capsys.readouterr().err == ("flux-kvs: unrecognized option '-x'\n"
                                       "Try `flux-kvs --help' for more information.\n")


def test_nested_subcommand_errors(capsys):
    with pytest.raises(SystemExit) as info:
        kvs.main(["namespace"])
    assert info.value.code == 1
    assert capsys.readouterr().err == "flux-kvs namespace: missing subcommand\n" + NAMESPACE_USAGE
    with pytest.raises(SystemExit):
        kvs.main(["namespace", "frob"])
    assert capsys.readouterr().err == "flux-kvs namespace: Unknown subcommand: frob\n" + NAMESPACE_USAGE
    with pytest.raises(SystemExit) as info:
        kvs.main(["namespace", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().err == NAMESPACE_USAGE
    with pytest.raises(SystemExit) as info:
        kvs.main(["eventlog", "-q"])
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        "flux-kvs eventlog: unrecognized option '-q'\n"
        "Try `flux-kvs eventlog --help' for more information.\n"
        "flux-kvs: eventlog: optparse_parse_args failed\n")
    with pytest.raises(SystemExit) as info:
        kvs.main(["eventlog", "get", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().err.startswith(
        "Usage: flux-kvs eventlog get [-N ns] [-u] [-W] [-w] [-c COUNT] [-H] [-S]  "
        "[-L auto|always|never] key\nGet eventlog\n")


@pytest.mark.parametrize("argv, first", [
    (["get"], "get [-N ns]"), (["put"], "put [-N ns]"), (["unlink"], "unlink [-N ns]"),
    (["link"], "link [-N ns]"), (["readlink"], "readlink [-N ns]"), (["mkdir"], "mkdir [-N ns]"),
    (["wait"], "wait [-N ns] version"), (["getroot", "x"], "getroot [-N ns] [-s|-o|-b]"),
    (["sync", "x"], "sync [OPTIONS]..."),
    (["namespace", "create"], "namespace create [-o owner]"),
    (["namespace", "remove"], "namespace remove name"),
    (["namespace", "list", "x"], "namespace list \n"),
    (["eventlog", "append", "k"], "eventlog append [-N ns]"),
    (["eventlog", "get"], "eventlog get [-N ns]"),
    (["eventlog", "wait-event", "k"], "eventlog wait-event [-N ns]"),
])
def test_missing_operands_print_usage_and_exit_1(capsys, argv, first):
    with pytest.raises(SystemExit) as info:
        kvs.main(argv)
    assert info.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"Usage: flux-kvs {first}")


@pytest.mark.parametrize("argv, message", [
    (["dir", "a", "b"], "flux-kvs: dir: specify zero or one directory\n"),
    (["link", "a"], "flux-kvs: link: specify target and link_name\n"),
    (["wait", "1", "2"], "flux-kvs: wait: specify a version\n"),
    (["copy", "a"], "flux-kvs: copy: specify srckey dstkey\n"),
    (["move"], "flux-kvs: move: specify srckey dstkey\n"),
    (["namespace", "create", "-o", "1x", "ns"],
     "flux-kvs: --owner requires an unsigned integer argument\n"),
])
def test_argument_errors_before_connecting(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        kvs.main(argv)
    assert info.value.code == 1
    assert capsys.readouterr() == ("", message)
