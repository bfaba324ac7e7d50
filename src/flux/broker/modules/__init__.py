"""Python broker modules, broker side, split as flux-core splits it.

- table.py: the module table and the ``module`` service (load, remove, list, status);
- link.py: one module's link (a peer link plus the module protocol and its life-cycle
  state table);
- spawn.py: starting module processes (fork or exec) and reaping them.
"""

from .table import ModuleTable, find_module

__all__ = ["ModuleTable", "find_module"]
