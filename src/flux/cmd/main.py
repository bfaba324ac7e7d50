"""The ``flux`` front end: dispatch ``flux CMD [ARGS]`` to ``flux.cmd.CMD.main``.

Each command lives in its own module under :mod:`flux.cmd` and defines
``main(argv: list[str]) -> int`` and a one-line ``SUMMARY``.  Only the
selected command is imported, so ``flux`` starts as fast as Python does.
An unknown CMD is looked up as an executable ``flux-CMD`` on
``FLUX_EXEC_PATH`` and then ``PATH``, as flux-core does.
"""

import os
import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import TextIO

# Imported lazily where used: ``pkgutil``, ``shutil`` and ``typing`` pull in
# ``re`` and friends (several ms), which short commands such as
# ``flux module load`` must not pay for.

# Command names that are not valid module names.
ALIASES = {
    "module-python-exec": "module_python_exec",
}


def _usage(out: "TextIO" = sys.stdout) -> "None":
    import importlib
    import pkgutil

    import flux.cmd

    lines = ["Usage: flux [OPTIONS] COMMAND ARGS", "", "Commands:"]
    for info in sorted(pkgutil.iter_modules(flux.cmd.__path__), key=lambda i: i.name):
        if info.name in ("main", "util") or info.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"flux.cmd.{info.name}")
        except Exception:  # a broken command must not break --help
            continue
        summary = getattr(mod, "SUMMARY", None)
        if summary is None:
            continue
        name = getattr(mod, "COMMAND", info.name.replace("_", "-"))
        lines.append(f"   {name:<18} {summary}")
    lines += ["", "Options:", "   -h, --help         show this help", "   -V, --version      show the version"]
    print("\n".join(lines), file=out)


def _find_external(name: "str") -> "str | None":
    import shutil

    search = os.environ.get("FLUX_EXEC_PATH", "")
    for directory in [d for d in search.split(":") if d]:
        path = os.path.join(directory, f"flux-{name}")
        if os.access(path, os.X_OK):
            return path
    return shutil.which(f"flux-{name}")


def main(argv: "list[str] | None" = None) -> "int":
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        if args[1:2] and args[0] == "help":
            args = [args[1], "--help"]
        else:
            _usage()
            return 0 if args else 1
    if args[0] in ("-V", "--version"):
        args[0] = "version"
    name = args[0]
    modname = ALIASES.get(name, name.replace("-", "_"))
    global _command
    _command = modname
    if name.startswith("-") or not modname.isidentifier() or modname in ("main", "util"):
        print(f"flux: unknown option or command '{name}'. See 'flux --help'.", file=sys.stderr)
        return 1
    try:
        mod = __import__(f"flux.cmd.{modname}", fromlist=["main"])
    except ModuleNotFoundError as exc:
        if exc.name != f"flux.cmd.{modname}":
            raise
        external = _find_external(name)
        if external is None:
            print(f"flux: '{name}' is not a flux command. See 'flux --help'.", file=sys.stderr)
            return 1
        os.execv(external, [external] + args[1:])
    try:
        rc = mod.main(args[1:])
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    return int(rc or 0)


# Commands that run a broker or a module in this process: they must leave
# through the interpreter's normal exit (finalizers, atexit, child cleanup).
_NORMAL_EXIT = frozenset(("start", "broker", "module_python_exec", "python", "env"))
_command = ""
_quick_exit = False


def quick_exit() -> "None":
    """For a command in ``_NORMAL_EXIT`` that finds it runs nothing needing the
    normal exit: ``flux start --test-size=N`` (its brokers are child processes)
    then skips tearing down the interpreter that imported every broker module,
    ~5 ms at the end of each instance."""
    global _quick_exit
    _quick_exit = True


def entry() -> "None":
    """Run ``flux`` and exit.  Other commands skip the interpreter's teardown
    (about 2 ms, a fifth of a short command's life) once their output is flushed."""
    try:
        rc: "str | int | None" = main()
    except SystemExit as exc:
        rc = exc.code
    if _command in _NORMAL_EXIT and not _quick_exit:
        sys.exit(rc)
    if rc is None:
        code = 0
    elif isinstance(rc, int):
        code = rc
    else:
        print(rc, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        code = code or 1
    try:
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass
    os._exit(code & 0xFF)


if __name__ == "__main__":
    entry()
