"""``--requires``: RFC 35 constraint query text to an RFC 31 constraint object.

The grammar of flux-core 0.88's submission commands: terms ``[OP:]VALUE``
(no operator means ``properties``, whose values split on ``,``; ``host:`` and
``hosts:`` mean ``hostlist``, ``rank:`` means ``ranks``), joined by ``and``,
``&``, ``&&``, a space, ``or``, ``|`` or ``||``; ``not EXPR``, ``-TERM``,
parentheses and quotes.  AND binds tighter than OR; ``properties`` terms
joined by AND are merged into one.  Errors are ConstraintSyntaxError with
flux-core's texts (positions included), so ``--requires`` fails the same way.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

_OPERATORS = {None: "properties", "host": "hostlist", "hosts": "hostlist", "rank": "ranks"}
_SPLIT = {"properties": ","}
_MERGED = {"properties"}

_TOKEN = re.compile(r"""[^()|&\s"']+""")
_SPACE = " \t\r\n\f\v"


class ConstraintSyntaxError(ValueError):
    """A query that is not RFC 35 text."""


class _Lexer:
    """Tokens ``(kind, value, position)``: NOT AND OR NEGATE LPAREN RPAREN TOKEN."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.parens = 0
        self.last_lparen = 0
        self.last_rparen = 0

    def tokens(self) -> list[tuple[str, str, int]]:
        text, pos, out = self.text, 0, []
        pending: tuple[str, int] | None = None  # "OP:" waits for its value
        while pos < len(text):
            char = text[pos]
            if char in _SPACE:
                pos += 1
                continue
            start = pos
            if char in "'\"":
                end = text.find(char, pos + 1)
                if end < 0:
                    quote = '"\'"' if char == "'" else "'\"'"
                    raise ConstraintSyntaxError(f"Unclosed quote {quote} at position {pos + 1}")
                if end == pos + 1:  # an empty quote gives no token
                    pos = end + 1
                    continue
                kind, value, pos = "TOKEN", text[pos + 1:end], end + 1
            elif char == "-":
                kind, value, pos = "NEGATE", "-", pos + 1
            elif char == "(":
                self.parens += 1
                self.last_lparen = pos
                kind, value, pos = "LPAREN", "(", pos + 1
            elif char == ")":
                self.parens -= 1
                self.last_rparen = pos
                kind, value, pos = "RPAREN", ")", pos + 1
            elif char in "&|":
                end = pos + 1
                if end < len(text) and text[end] == char:
                    end += 1
                kind, value, pos = ("AND" if char == "&" else "OR"), text[pos:end], end
            else:
                word = _TOKEN.match(text, pos)
                assert word is not None
                value, pos = word.group(), word.end()
                kind = "TOKEN"
                for keyword, name in (("not", "NOT"), ("and", "AND"), ("or", "OR")):
                    if value.startswith(keyword) and (len(value) == len(keyword)
                                                      or not _word_char(value[len(keyword)])):
                        kind, value, pos = name, keyword, start + len(keyword)
                        break
            if kind == "TOKEN":
                if pending is not None:
                    value, start = pending[0] + value, pending[1]
                    pending = None
                elif value.endswith(":"):
                    pending = (value, start)
                    continue
            out.append((kind, value, start))
        if pending is not None:
            raise ConstraintSyntaxError(f"Missing argument to token '{pending[0]}'")
        return out


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.lexer = _Lexer(query)
        self.tokens = self.lexer.tokens()
        self.pos = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def fail(self, token: tuple[str, str, int] | None) -> ConstraintSyntaxError:
        if token is None:
            if self.lexer.parens > 0:
                return ConstraintSyntaxError(
                    f"Unclosed parenthesis in position {self.lexer.last_lparen}")
            return ConstraintSyntaxError(f"Unexpected end of input in '{self.query}'")
        if self.lexer.parens < 0:
            # flux-core 0.88's message (its format string lacks the f prefix)
            return ConstraintSyntaxError(
                "Mismatched parentheses starting at position {self.lexer.last_rparens}.")
        return ConstraintSyntaxError(f"Invalid token '{token[1]}' at position {token[2]}")

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise self.fail(None)
        self.pos += 1
        return token

    def parse(self) -> dict:
        result = self.expr_or()
        if self.peek() is not None:
            raise self.fail(self.peek())
        return result

    def expr_or(self) -> dict:
        left = self.expr_and()
        while (token := self.peek()) is not None and token[0] == "OR":
            self.pos += 1
            right = self.expr_and()
            if "or" in left:
                left["or"].append(right)
            else:
                left = {"or": [left, right]}
        return left

    def expr_and(self) -> dict:
        left = self.unary()
        while (token := self.peek()) is not None and token[0] in (
                "AND", "TOKEN", "NOT", "NEGATE", "LPAREN"):
            if token[0] == "AND":
                self.pos += 1
            left = _combine(left, self.unary())
        return left

    def unary(self) -> dict:
        token = self.take()
        kind = token[0]
        if kind == "NOT":
            return {"not": [self.unary()]}
        if kind == "NEGATE":
            term = self.take()
            if term[0] != "TOKEN":
                raise self.fail(term)
            return {"not": [_term(term[1])]}
        if kind == "LPAREN":
            inner = self.expr_or()
            close = self.take()
            if close[0] != "RPAREN":
                raise self.fail(close)
            return inner
        if kind == "TOKEN":
            return _term(token[1])
        raise self.fail(token)


def _term(text: str) -> dict:
    op: str | None
    op, colon, value = text.partition(":")
    if not colon:
        op, value = _OPERATORS[None], text
    else:
        op = _OPERATORS.get(op, op)
    bad = re.search(r"[^\w.+@-]", op)
    if bad:
        raise ConstraintSyntaxError(f"invalid character '{bad[0]}' in operator '{op}:'")
    if op in _SPLIT:
        return {op: value.split(_SPLIT[op])}
    return {op: [value]}


def _combine(first: dict, second: dict) -> dict:
    """AND two constraints, merging like terms of the operators that allow it."""
    entries = [first, second]
    if "and" in first:
        first["and"].append(second)
        entries = [first]
    merged: dict[str, list] = {}
    terms: list[dict] = []
    for entry in entries:
        key = next(iter(entry))
        if key not in _MERGED:
            terms.append(entry)
        elif key not in merged:
            merged[key] = entry[key]
            terms.append(entry)
        else:
            merged[key].extend(entry[key])
    return terms[0] if len(terms) == 1 else {"and": terms}


def parse_constraint(query: str) -> Any:
    """The RFC 31 constraint of ``query``; ConstraintSyntaxError if it is not valid."""
    return _Parser(query).parse()
