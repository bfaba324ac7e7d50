"""pureflux: the Flux messaging core in pure Python.

``import flux`` stays cheap: submodules load on first use, so short-lived
commands and module processes start fast.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing imports re: too slow for short-lived commands
    from typing import Any

    # what __getattr__ loads on first use, spelled out for type checkers
    from flux import brokermod as brokermod, codec as codec, constants as constants, core as core
    from flux import future as future, kvs as kvs, message as message, rpc as rpc, util as util
    from flux.core.handle import Flux

__all__ = ["core", "kvs", "rpc", "constants", "Flux"]
__version__ = "0.1.0"

# The flux-core release whose wire protocol and command behaviour we follow.
FLUX_CORE_COMPAT_VERSION = "0.88.0"


def __getattr__(name: "str") -> "Any":
    # ``flux.Flux`` is the handle class itself (so ``flux.Flux.set_exception``,
    # ``isinstance(h, flux.Flux)`` and subclassing work), loaded on first use.
    if name == "Flux":
        from flux.core.handle import Flux

        globals()["Flux"] = Flux
        return Flux
    if name in ("core", "kvs", "rpc", "constants", "message", "future", "brokermod",
                "codec", "util"):
        import importlib

        return importlib.import_module(f"flux.{name}")
    raise AttributeError(f"module 'flux' has no attribute {name!r}")
