"""The command-line pieces of flux-core's ``flux.util``: ``CLIMain`` (how a Python
command reports an uncaught exception and exits), ``help_formatter`` (``-l, --long=ARG``
help layout) and the argparse actions its commands share."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback

from flux._util_treedict import set_treedict

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = [
    "CLIMain",
    "help_formatter",
    "TreedictAction",
    "FilterAction",
    "FilterActionSetUpdate",
    "FilterActionUser",
    "FilterTrueAction",
    "YesNoAction",
    "ColorAction",
]


class CLIMain:
    """Decorator-style runner: ``CLIMain(LOGGER)(main)`` runs ``main`` and exits.

    An exception is logged as one line (``name: ERROR: text``; an OSError's strerror,
    plus ``: 'filename'``), the traceback only at debug level
    (``FLUX_PYCLI_LOGLEVEL=10``), exit status 1; ``sys.exit`` passes through.
    """

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger()

    def __call__(self, main_func: Callable[[], Any]) -> None:
        level = int(os.environ.get("FLUX_PYCLI_LOGLEVEL", logging.INFO))
        logging.basicConfig(level=level, format="%(name)s: %(levelname)s: %(message)s")
        exit_code: Any = 0
        try:
            main_func()
        except SystemExit as exc:
            exit_code = exc
        except Exception as exc:  # noqa: BLE001  (every failure becomes one line)
            exit_code = 1
            message = str(getattr(exc, "strerror", None) or exc)
            filename = getattr(exc, "filename", None)
            if filename:
                message += f": '{filename}'"
            self.logger.error(message)
            self.logger.debug(traceback.format_exc())
        finally:
            logging.shutdown()
            sys.exit(exit_code)


class _FluxHelpFormatter(argparse.HelpFormatter):
    """Options shown as ``-l, --long=ARG``; long-only options aligned past the short
    column; options listed in an action's ``hidden_option_strings`` left out."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            (metavar,) = self._metavar_formatter(action, action.dest)(1)
            return str(metavar)
        hidden = getattr(action, "hidden_option_strings", ())
        opts = [o for o in action.option_strings if o not in hidden]
        text = ", ".join(opts)
        if len(opts) == 1 and len(opts[0]) > 2:
            text = "    " + opts[0]
        if action.nargs == 0:
            return text
        return text + "=" + self._format_args(action, action.dest.upper())


class _FluxRawDescriptionHelpFormatter(_FluxHelpFormatter,
                                       argparse.RawDescriptionHelpFormatter):
    pass


def help_formatter(argwidth: int = 40, raw_description: bool = False) -> Callable[[str], Any]:
    """A ``formatter_class`` for argparse laying out help as flux-core's commands do."""
    cls = _FluxRawDescriptionHelpFormatter if raw_description else _FluxHelpFormatter
    return lambda prog: cls(prog, max_help_position=argwidth)


class TreedictAction(argparse.Action):
    """``KEY=VALUE`` arguments into one dict; dotted keys nest, values are JSON when
    they parse as JSON, text otherwise."""

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: Optional[str] = None) -> None:
        result: dict = {}
        for arg in values:
            key, sep, text = arg.partition("=")
            if not sep:
                raise ValueError(f"Missing required value for key {arg}")
            try:
                val = json.loads(text)
            except (json.JSONDecodeError, TypeError):
                val = text
            set_treedict(result, key, val)
            setattr(namespace, self.dest, result)


class FilterAction(argparse.Action):
    """Store the value and mark the namespace ``filtered``."""

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: Optional[str] = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, "filtered", True)


class FilterActionSetUpdate(argparse.Action):
    """Add comma-separated values to the destination set; mark ``filtered``."""

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: Optional[str] = None) -> None:
        setattr(namespace, "filtered", True)
        getattr(namespace, self.dest).update(values.split(","))


class FilterActionUser(argparse.Action):
    """Store a user; mark ``filtered`` and ``filtereduser``."""

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: Optional[str] = None) -> None:
        setattr(namespace, "filtered", True)
        setattr(namespace, "filtereduser", True)
        setattr(namespace, self.dest, values)


class FilterTrueAction(argparse.Action):
    """A flag storing ``const`` (True) and marking ``filtered``."""

    def __init__(self, option_strings: Any, dest: str, const: Any = True, default: Any = False,
                 required: bool = False, help: Optional[str] = None,  # noqa: A002
                 metavar: Optional[str] = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, nargs=0, const=const,
                         default=default, help=help)

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: Optional[str] = None) -> None:
        setattr(namespace, self.dest, self.const)
        setattr(namespace, "filtered", True)


class YesNoAction(argparse.Action):
    """``--opt=yes|no`` stored as a bool; ValueError for anything else."""

    def __init__(self, option_strings: Any, dest: str, help: Optional[str] = None,  # noqa: A002
                 metavar: str = "[yes|no]") -> None:
        super().__init__(option_strings=option_strings, dest=dest, help=help, metavar=metavar)

    def __call__(self, parser: Any, namespace: Any, value: Any,
                 option_string: Optional[str] = None) -> None:
        if value not in ("yes", "no"):
            raise ValueError(f"{option_string} requires either 'yes' or 'no'")
        setattr(namespace, self.dest, value == "yes")


class ColorAction(argparse.Action):
    """``--color[=WHEN]`` (always, never, auto; bare ``--color`` is always).  Unused,
    it is auto, or never when ``NO_COLOR`` is set.  The value is a ``ColorWhen``
    string whose ``enabled`` says whether to color."""

    class ColorWhen(str):
        @property
        def enabled(self) -> bool:
            if self == "always":
                return True
            if self == "never":
                return False
            return sys.stdout.isatty()

    def __init__(self, option_strings: Any, dest: str, nargs: Any = "?", default: str = "auto",
                 metavar: str = "WHEN",
                 help: str = "Use color; WHEN can be 'never', 'always' or 'auto' (default)",  # noqa: A002
                 **kwargs: Any) -> None:
        if default == "auto" and os.environ.get("NO_COLOR"):
            default = "never"
        super().__init__(option_strings, dest, nargs=nargs, default=self.ColorWhen(default),
                         metavar=metavar, help=help, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: Optional[str] = None) -> None:
        if values is None:
            values = "always"
        if values not in ("auto", "always", "never"):
            parser.error(f"Invalid argument to --color: '{values}'")
        setattr(namespace, self.dest, self.ColorWhen(values))
