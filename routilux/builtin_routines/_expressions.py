"""Safe evaluation of ConditionalRouter's string conditions.

A condition such as ``"data['priority'] == 'high' and len(data['items']) > 3"`` is
parsed with :func:`ast.parse` (which runs nothing) and evaluated by walking the tree
here: there is no ``eval``, no ``compile``, and only a small whitelist of operations.

Why our own evaluator rather than a library: the language needed is tiny (comparisons,
boolean logic, arithmetic, indexing, a few functions and methods), a whitelist of about
a hundred lines is easy to audit, and general "safe eval" libraries have had escapes
through attribute access; here no attribute of any object can be reached except the
listed methods of dict, list, tuple and str, no name exists but ``data``, ``config``,
``stats`` and the listed functions, and the cost of an evaluation is bounded (no
loops, no comprehensions, no exponentiation, no string formatting, size-checked
repetition, ``round`` and ``sum`` limited to what cannot hide a power or a copy loop).

Allowed: literals and tuple/list/dict/set displays; ``and``/``or``/``not``; ``+ - * /
// %`` (``%`` on numbers only) and unary ``- +``; comparisons including ``in``, ``not
in``, ``is``, ``is not``; ``x if c else y``; subscripts and slices; calls of ``len str
int float bool abs min max round sum any all sorted isinstance`` and of the methods
``get keys values items startswith endswith lower upper strip split count index``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from routilux.exceptions import ConfigurationError

__all__ = ["compile_condition", "evaluate"]

_MAX_LENGTH = 2_000
_MAX_SEQUENCE = 100_000

_TYPES: dict[str, type] = {
    "dict": dict,
    "list": list,
    "tuple": tuple,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "set": set,
}

_MAX_ROUND_DIGITS = 400  # beyond any float's exponent; larger ones build 10**n


def _round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > _MAX_ROUND_DIGITS:
        raise ValueError(f"round() with {ndigits} digits is not allowed in a condition")
    return round(number, ndigits)


def _sum(values: Any, start: Any = 0) -> Any:
    # sum(lists, []) would concatenate in a loop the size checks cannot see
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise ValueError("sum() in a condition adds numbers only")
    return sum(values, start)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "round": _round,
    "sum": _sum,
    "any": any,
    "all": all,
    "sorted": sorted,
    "isinstance": isinstance,
    **_TYPES,
}

_METHODS: dict[type, frozenset[str]] = {
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    str: frozenset(
        {"startswith", "endswith", "lower", "upper", "strip", "split", "count", "index"}
    ),
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

_NAMES = frozenset({"data", "config", "stats"})

_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Set,
    *_BINARY,
    *_COMPARE,
)


def compile_condition(text: str) -> ast.Expression:
    """Parse and check a condition; refuse anything outside the whitelist.

    Raises:
        ConfigurationError: naming what is not allowed.
    """
    if not isinstance(text, str):
        raise ConfigurationError(f"a condition expression must be a string, not {text!r}")
    if len(text) > _MAX_LENGTH:
        raise ConfigurationError(f"condition longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigurationError(f"condition {text!r} is not valid: {exc.msg}") from None
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in called:
            raise ConfigurationError(
                f"condition {text!r} reads attribute '{node.attr}'; only method calls are allowed"
            )
        if not isinstance(node, _ALLOWED_NODES):
            raise ConfigurationError(
                f"condition {text!r} uses {type(node).__name__}, which is not allowed"
            )
        if isinstance(node, ast.Name) and node.id not in _NAMES and node.id not in _FUNCTIONS:
            raise ConfigurationError(f"condition {text!r} uses unknown name '{node.id}'")
        if isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or not any(node.attr in m for m in _METHODS.values())
        ):
            raise ConfigurationError(f"condition {text!r} uses attribute '{node.attr}'")
        if isinstance(node, ast.Dict) and None in node.keys:
            raise ConfigurationError(f"condition {text!r} unpacks a dict with **")
        if isinstance(node, ast.Call) and node.keywords:
            raise ConfigurationError(f"condition {text!r} passes keyword arguments")
        if isinstance(node, ast.Call) and not isinstance(node.func, (ast.Name, ast.Attribute)):
            raise ConfigurationError(f"condition {text!r} calls something other than a name")
    return tree


def evaluate(tree: ast.Expression, names: Mapping[str, Any]) -> Any:
    """Evaluate a tree made by :func:`compile_condition` with ``data``, ``config`` and
    ``stats`` bound from ``names``. Errors raise as usual (ValueError, KeyError, ...)."""
    return _evaluate(tree.body, names)


def _evaluate(node: ast.expr, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _NAMES:
            return names.get(node.id)
        return _FUNCTIONS[node.id]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _evaluate(value, names)
                if not result:
                    return result
            return result
        for value in node.values:
            result = _evaluate(value, names)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, names)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub):
            return -operand
        return +operand
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if isinstance(node.op, ast.Mult):
            _check_repetition(left, right)
        elif isinstance(node.op, ast.Mod) and isinstance(left, (str, bytes)):
            raise ValueError("string formatting with % is not allowed in a condition")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, names)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, names)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        branch = node.body if _evaluate(node.test, names) else node.orelse
        return _evaluate(branch, names)
    if isinstance(node, ast.Subscript):
        target = _evaluate(node.value, names)
        index = node.slice
        if isinstance(index, ast.Slice):
            parts = (index.lower, index.upper, index.step)
            bounds = [None if part is None else _evaluate(part, names) for part in parts]
            return target[slice(*bounds)]
        return target[_evaluate(index, names)]
    if isinstance(node, ast.Call):
        function = _callable(node.func, names)
        return function(*[_evaluate(argument, names) for argument in node.args])
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(element, names) for element in node.elts)
    if isinstance(node, ast.List):
        return [_evaluate(element, names) for element in node.elts]
    if isinstance(node, ast.Set):
        return {_evaluate(element, names) for element in node.elts}
    if isinstance(node, ast.Dict):
        return {
            _evaluate(k, names) if k is not None else None: _evaluate(v, names)
            for k, v in zip(node.keys, node.values, strict=True)
        }
    raise ConfigurationError(f"{type(node).__name__} is not allowed in a condition")


def _callable(node: ast.expr, names: Mapping[str, Any]) -> Callable[..., Any]:
    if isinstance(node, ast.Name):
        function = _FUNCTIONS.get(node.id)
        if function is None:
            raise ConfigurationError(f"'{node.id}' cannot be called in a condition")
        return function
    assert isinstance(node, ast.Attribute)
    target = _evaluate(node.value, names)
    allowed = _METHODS.get(type(target), frozenset())
    if node.attr not in allowed:
        raise ValueError(f"{type(target).__name__} has no usable method '{node.attr}'")
    return getattr(target, node.attr)  # type: ignore[no-any-return]


def _check_repetition(left: Any, right: Any) -> None:
    """Refuse ``"x" * 10**9`` and the like: a sequence times a large number, counting
    what nested sequences hold (``['a' * 1000] * 1000`` is a million characters)."""
    for sequence, count in ((left, right), (right, left)):
        if not isinstance(sequence, (str, list, tuple, bytes)) or not isinstance(count, int):
            continue
        if count > 0 and _size(sequence, _MAX_SEQUENCE // count + 1) * count > _MAX_SEQUENCE:
            raise ValueError("repetition too large in a condition")


def _size(value: Any, limit: int) -> int:
    """Items and characters in ``value``, counted through nested sequences; stops
    counting once past ``limit`` (so the walk itself stays cheap)."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return 1
    total = len(value)
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        if total > limit:
            break
        if isinstance(item, (str, bytes, list, tuple, dict, set, frozenset)):
            total += _size(item, limit - total)
    return total
