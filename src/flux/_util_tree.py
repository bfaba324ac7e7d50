"""``flux.util.Tree``: the pstree-like display of ``flux pstree`` and friends, with
flux-core's connector styles, duplicate folding (``3*[label]``) and truncation."""

from __future__ import annotations

import shutil
from typing import NamedTuple, Optional

__all__ = ["Tree"]


class _Connectors(NamedTuple):
    PIPE: str
    TEE: str
    ELBOW: str
    BLANK: str


class Tree:
    """A labelled node with children; ``render()`` prints it.

    With ``combine_children``, a child appended twice with the same prefix and label
    is shown once as ``N*[label]``.
    """

    Connectors = _Connectors
    connector_styles = {
        "ascii": _Connectors("|   ", "|-- ", "`-- ", "    "),
        "box": _Connectors("│   ", "├── ", "└── ", "    "),
        "compact": _Connectors("│ ", "├─", "└─", "  "),
    }

    def __init__(self, label: str, prefix: str = "", combine_children: bool = False) -> None:
        self.label = label
        self.prefix = f"{prefix} " if prefix else prefix
        self.duplicates: dict[str, Tree] = {}
        self.duplicate_count = 1
        self.children: list[Tree] = []
        self.combine_children = combine_children

    def append(self, label: str, prefix: str = "") -> Tree:
        """Add a child (or count one more of an identical child); returns it."""
        if not self.combine_children:
            return self.add(label, prefix)
        key = f"{prefix}{label}"
        if key in self.duplicates:
            self.duplicates[key].increment()
        else:
            self.duplicates[key] = self.add(label, prefix, combine_children=True)
        return self.duplicates[key]

    def append_tree(self, tree: Tree) -> Tree:
        """Add a built subtree; a leaf identical to an earlier one is counted instead."""
        if not self.combine_children or tree.children:
            self.children.append(tree)
            return tree
        key = f"{tree.prefix}{tree.label}"
        if key in self.duplicates:
            self.duplicates[key].increment()
        else:
            self.children.append(tree)
            self.duplicates[key] = tree
        return self.duplicates[key]

    def add(self, label: str, prefix: str = "", combine_children: bool = False) -> Tree:
        """Add a child, never combined with others; returns it."""
        tree = Tree(label, prefix=prefix, combine_children=combine_children)
        self.children.append(tree)
        return tree

    def increment(self) -> None:
        self.duplicate_count += 1

    def _render(self, pstack: Optional[list[str]] = None, connector: str = "",
                style: str = "box", max_level: Optional[int] = None,
                truncate: Optional[int] = None) -> None:
        # pstack holds the indentation of each level above; its top belongs to the
        # children of this node, so this line uses all but the top.
        pstack = [] if pstack is None else pstack
        if max_level is not None and len(pstack) > max_level:
            return
        label = (f"{self.duplicate_count}*[{self.label}]" if self.duplicate_count > 1
                 else self.label)
        line = f"{self.prefix}{''.join(pstack[:-1])}{connector}{label}"
        if truncate and len(line) > truncate:
            line = line[:truncate - 1] + "+"
        print(line)
        glyphs = self.connector_styles[style]
        for child in self.children:
            last = child == self.children[-1]
            pstack.append(glyphs.BLANK if last else glyphs.PIPE)
            child._render(pstack, connector=glyphs.ELBOW if last else glyphs.TEE,
                          style=style, max_level=max_level, truncate=truncate)
            pstack.pop()

    def render(self, style: str = "box", level: Optional[int] = None, skip_root: bool = False,
               truncate: bool = True) -> None:
        """Print the tree: ``style`` ascii, box or compact; stop below depth ``level``;
        ``truncate`` lines at the terminal width (132 if unknown)."""
        if skip_root:
            for child in self.children:
                child.render(style=style, level=level, truncate=truncate)
            return
        limit = shutil.get_terminal_size((132, 25)).columns if truncate else None
        self._render(style=style, max_level=level, truncate=limit)
