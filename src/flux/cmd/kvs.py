"""``flux kvs SUBCOMMAND``: the key-value store from the command line, as flux-core's.

This module is the command's interface: its subcommands, their usage lines,
descriptions and option tables, in flux-core's order and wording (usage and
option errors follow :mod:`flux.cmd._kvs_options`).  The work is done by
``_kvs_read`` (get, dir, readlink), ``_kvs_ls``, ``_kvs_write`` (put,
unlink, link, mkdir, copy, move, sync), ``_kvs_admin`` (version, wait,
getroot, dropcache, namespace) and ``_kvs_eventlog``, each imported only
when its subcommand runs.  ``dropcache`` is older flux-core's (0.88 dropped
it): ``kvs.dropcache``, or with ``--all`` the ``kvs.dropcache`` event.
"""

from __future__ import annotations

import sys

from ._kvs_options import OPTIONAL, REQUIRED, Command, Opt

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn

SUMMARY = "Access the Flux key-value store"

PROG = "flux-kvs"

_NS = Opt("N", "namespace", "Specify KVS namespace to use.", REQUIRED)
_AT = Opt("a", "at", "Lookup relative to RFC 11 snapshot reference", REQUIRED)
_WIDTH = Opt("w", "width", "Set output width to COLS.  0 means no limit", REQUIRED)
_COLOR = Opt("L", "color", "Colorize output when supported; WHEN can be 'always' "
             "(default if omitted), 'never', or 'auto' (default).", OPTIONAL, "WHEN",
             short_optional=True)


def _commit_outputs(what: str) -> list[Opt]:
    return [Opt("O", "treeobj-root", f"Output resulting RFC11 root containing {what}"),
            Opt("b", "blobref", f"Output blobref of root containing {what}"),
            Opt("s", "sequence", f"Output root sequence of root containing {what}")]


_COPY = [Opt("S", "src-namespace", "Specify source key's namespace", REQUIRED),
         Opt("D", "dst-namespace", "Specify destination key's namespace", REQUIRED)]

#: name -> (usage, description, options, "module:function"), in flux-core's order
#: (``namespace`` and ``eventlog`` run subcommands of their own, below).
SUBCOMMANDS: dict[str, tuple[Any, str, list[Opt], str]] = {
    "namespace": (None, "Perform KVS namespace operations", [], ""),
    "get": ("[-N ns] [-r|-t] [-a treeobj] [-l] [-W] [-w] [-u] [-A] [-f] [-S] [-c COUNT] key [key...]",
            "Get value stored under key", [
                _NS,
                Opt("r", "raw", "Interpret value(s) as raw data"),
                Opt("t", "treeobj", "Show RFC 11 object"),
                _AT,
                Opt("l", "label", "Print key= before value"),
                Opt("W", "waitcreate", "Wait for creation to occur on watch"),
                Opt("w", "watch", "Monitor key writes"),
                Opt("u", "uniq", "Only monitor key writes if values have changed"),
                Opt("A", "append", "Only monitor key appends"),
                Opt("f", "full", "Monitor key changes with more complete accuracy"),
                Opt("c", "count", "Display at most COUNT changes", REQUIRED, "COUNT"),
                Opt("S", "stream", "Return potentially large values in multiple responses."),
            ], "_kvs_read:cmd_get"),
    "put": ("[-N ns] [-O|-b|-s] [-r|-t] [-n] [-A] [-S] key=value [key=value...]",
            "Store value under key", [
                _NS,
                *_commit_outputs("puts"),
                Opt("r", "raw", "Store value(s) as-is without adding NULL termination"),
                Opt("t", "treeobj", "Store RFC 11 object"),
                Opt("n", "no-merge", "Set the NO_MERGE flag to ensure commit is standalone"),
                Opt("A", "append", "Append value(s) to key instead of overwriting"),
                Opt("S", "sync", "Flushes content and checkpoints after completing put"),
            ], "_kvs_write:cmd_put"),
    "dir": ("[-N ns] [-R] [-d] [-w COLS] [-a treeobj] [key]",
            "Display all keys under directory", [
                _NS,
                Opt("R", "recursive", "Recursively display keys under subdirectories"),
                Opt("d", "directory", "List directory entries and not values"),
                _WIDTH,
                _AT,
            ], "_kvs_read:cmd_dir"),
    "ls": ("[-N ns] [-R] [-d] [-F] [-w COLS] [-1] [key...]", "List directory", [
        _NS,
        Opt("R", "recursive", "List directory recursively"),
        Opt("d", "directory", "List directory instead of contents"),
        _WIDTH,
        Opt("1", "1", "Force one entry per line"),
        Opt("F", "classify", "Append indicator (one of .@) to entries"),
    ], "_kvs_ls:cmd_ls"),
    "unlink": ("[-N ns] [-O|-b|-s] [-R] [-f] key [key...]", "Remove key", [
        _NS,
        *_commit_outputs("unlinks"),
        Opt("R", "recursive", "Remove directory contents recursively"),
        Opt("f", "force", "ignore nonexistent files"),
    ], "_kvs_write:cmd_unlink"),
    "link": ("[-N ns] [-T ns] [-O|-b|-s] target linkname", "Create a new name for target", [
        Opt("N", "namespace", "Specify link's namespace.", REQUIRED),
        Opt("T", "target-namespace", "Specify target's namespace", REQUIRED),
        *_commit_outputs("link"),
    ], "_kvs_write:cmd_link"),
    "readlink": ("[-N ns] [-a treeobj] [ -o | -k ] key [key...]",
                 "Retrieve the key a link refers to", [
                     _NS,
                     _AT,
                     Opt("o", "namespace-only",
                         "Output only namespace if link points to a namespace"),
                     Opt("k", "key-only", "Output only key if link points to a namespace"),
                 ], "_kvs_read:cmd_readlink"),
    "mkdir": ("[-N ns] [-O|-b|-s] key [key...]", "Create a directory",
              [_NS, *_commit_outputs("new directory")], "_kvs_write:cmd_mkdir"),
    "copy": ("[-S src-ns] [-D dst-ns] source destination", "Copy source key to destination key",
             _COPY, "_kvs_write:cmd_copy"),
    "move": ("[-S src-ns] [-D dst-ns] source destination", "Move source key to destination key",
             _COPY, "_kvs_write:cmd_move"),
    "dropcache": ("[--all]", "Tell KVS to drop its cache",
                  [Opt("a", "all", "Drop KVS across all ranks")], "_kvs_admin:cmd_dropcache"),
    "version": ("[-N ns]", "Display current KVS version", [_NS], "_kvs_admin:cmd_version"),
    "wait": ("[-N ns] version", "Block until the KVS reaches version", [_NS],
             "_kvs_admin:cmd_wait"),
    "getroot": ("[-N ns] [-s|-o|-b]", "Get KVS root treeobj", [
        _NS,
        Opt("s", "sequence", "Show sequence number"),
        Opt("o", "owner", "Show owner"),
        Opt("b", "blobref", "Show blobref"),
    ], "_kvs_admin:cmd_getroot"),
    "sync": (None, "sync content and checkpoint to disk", [], "_kvs_write:cmd_sync"),
    "eventlog": (None, "Manipulate a KVS eventlog", [], ""),
}

#: subcommands that parse their own arguments (they have subcommands of their own)
SKIP_OPTS = ("namespace", "eventlog")

NAMESPACE_SUBCOMMANDS: dict[str, tuple[Any, str, list[Opt], str]] = {
    "create": ("[-o owner] [-r rootref] name [name...]", "Create a KVS namespace", [
        Opt("o", "owner", "Specify alternate namespace owner via userid", REQUIRED),
        Opt("r", "rootref", "Initialize namespace with specific root reference", REQUIRED),
    ], "_kvs_admin:cmd_namespace_create"),
    "remove": ("name [name...]", "Remove a KVS namespace", [], "_kvs_admin:cmd_namespace_remove"),
    "list": ("", "List namespaces on local rank", [], "_kvs_admin:cmd_namespace_list"),
}

EVENTLOG_SUBCOMMANDS: dict[str, tuple[Any, str, list[Opt], str]] = {
    "append": ("[-N ns] [-t SECONDS] key name [context ...]", "Append to eventlog", [
        _NS,
        Opt("t", "timestamp", "Specify timestamp in seconds since epoch", REQUIRED, "SECONDS"),
    ], "_kvs_eventlog:cmd_append"),
    "get": ("[-N ns] [-u] [-W] [-w] [-c COUNT] [-H] [-S]  [-L auto|always|never] key",
            "Get eventlog", [
                _NS,
                Opt("W", "waitcreate", "Wait for creation to occur on watch"),
                Opt("w", "watch", "Monitor eventlog"),
                Opt("c", "count", "Display at most COUNT events", REQUIRED, "COUNT"),
                Opt("u", "unformatted", "Show event in RFC 18 form"),
                Opt("H", "human", "Display human-readable output"),
                _COLOR,
                Opt("S", "stream", "Return potentially large values in multiple responses."),
            ], "_kvs_eventlog:cmd_get"),
    "wait-event": ("[-N ns] [-t seconds] [-u] [-W] [-q] [-v] [-L auto|always|never] key event",
                   "Wait for an event", [
                       _NS,
                       Opt("W", "waitcreate", "Wait for creation to occur on eventlog"),
                       Opt("t", "timeout", "timeout after DURATION", REQUIRED, "DURATION"),
                       Opt("u", "unformatted", "Show event in RFC 18 form"),
                       Opt("q", "quiet", "Do not output matched event"),
                       Opt("v", "verbose", "Output all events before matched event"),
                       Opt("H", "human", "Display human-readable output"),
                       _COLOR,
                   ], "_kvs_eventlog:cmd_wait_event"),
}


def make_command(parent: str, name: str, entry: tuple[Any, str, list[Opt], str],
                 subcommands: dict | None = None) -> Command:
    """The Command of one table entry (with its own subcommands' Commands, if any)."""
    usage, doc, options, _ = entry
    fullname = f"{parent} {name}"
    subs = {sub: make_command(fullname, sub, e) for sub, e in (subcommands or {}).items()}
    return Command(fullname, usage, doc, options, subs)


def handler(entry: tuple[Any, str, list[Opt], str]) -> Any:
    """The function that runs a subcommand, imported on first use."""
    import importlib

    module, _, func = entry[3].partition(":")
    return getattr(importlib.import_module(f"flux.cmd.{module}"), func)


def usage_exit() -> NoReturn:
    """flux-kvs's own usage: its options, then the common subcommands; exit 1."""
    top = Command(PROG, "[OPTIONS] COMMAND ARGS")
    lines = [top.usage_text(), "\n", f"Common commands from {PROG}:\n"]
    lines += [f"   {name:<15} {entry[1]}\n" for name, entry in SUBCOMMANDS.items()]
    sys.stdout.flush()
    sys.stderr.write("".join(lines))
    sys.stderr.flush()
    raise SystemExit(1)


def run_nested(parent: Command, argv: list[str],
               table: dict[str, tuple[Any, str, list[Opt], str]]) -> int:
    """``flux kvs namespace|eventlog SUB ...``: parse, then run SUB (liboptparse's texts)."""
    from ._kvs_output import msg_exit

    word = parent.name
    try:
        args = parent.parse(argv)
    except SystemExit as exc:
        if exc.code == 1:
            msg_exit(f"{word}: optparse_parse_args failed")
        raise
    rest = args.args
    if not rest:
        parent.fatal_usage(1, "missing subcommand")
    if rest[0] not in table:
        parent.fatal_usage(1, f"Unknown subcommand: {rest[0]}")
    sub = parent.subcommands[rest[0]]
    return int(handler(table[rest[0]])(sub.parse(rest)) or 0)


def main(argv: list[str]) -> int:
    top = Command(PROG, "[OPTIONS] COMMAND ARGS", on_help=usage_exit)
    args = top.parse([PROG, *argv])
    if not args.args or args.args[0] not in SUBCOMMANDS:
        usage_exit()
    name = args.args[0]
    entry = SUBCOMMANDS[name]
    nested = {"namespace": NAMESPACE_SUBCOMMANDS, "eventlog": EVENTLOG_SUBCOMMANDS}.get(name)
    command = make_command(PROG, name, entry, nested)
    if name in SKIP_OPTS:
        return run_nested(command, args.args, nested or {})
    rc = int(handler(entry)(command.parse(args.args)) or 0)
    return 1 if rc < 0 else rc
