"""Safe evaluation of ConditionalRouter's string conditions.

A condition such as ``"data['priority'] == 'high' and len(data['items']) > 3"`` is
parsed with :func:`ast.parse` (which runs nothing) and evaluated by walking the tree
here: there is no ``eval``, no ``compile``, and only a small whitelist of operations.

Why our own evaluator rather than a library: the language needed is tiny (comparisons,
boolean logic, arithmetic, indexing, a few functions and methods), a whitelist is easy
to audit, and general "safe eval" libraries have had escapes through attribute access;
here no attribute of any object can be reached except the listed methods of dict, list,
tuple and str, and no name exists but ``data``, ``config``, ``stats`` and the listed
functions.

Allowed: literals and tuple/list/dict/set displays; ``and``/``or``/``not``; ``+ - * /
// %`` (``%`` on numbers only) and unary ``- +``; comparisons including ``in``, ``not
in``, ``is``, ``is not``; ``x if c else y``; subscripts and slices; calls of ``len str
int float bool abs min max round sum any all sorted isinstance dict list tuple set``
and of the methods ``get keys values items`` (dict), ``count index`` (list, tuple) and
``startswith endswith lower upper strip split count index`` (str). No loops, no
comprehensions, no ``**``, no ``<<``, no string formatting, no keyword arguments.

Bounds. The cost of one evaluation is bounded whatever the condition and the data:
in time (about a third of a second at worst on a typical machine, microseconds for
usual conditions) and in memory (tens of megabytes at worst). Passing a bound raises
:class:`~routilux.exceptions.ConfigurationError` with a message starting ``condition
too costly:`` (or, when compiling, naming the limit) that names the operation and the
bound; the router logs it and counts the route as not matching. Each check is made
before the work it guards, except where noted.

- Text (checked when compiled): at most ``MAX_LENGTH`` (2,000) characters, nested at
  most ``MAX_DEPTH`` (500) levels, integer literals of at most ``MAX_INT_BITS`` bits.
- Size: every string, bytes, list, tuple, set or dict a condition builds (by a
  display, ``+``, ``*``, a slice, ``str``, ``list``, ``tuple``, ``set``, ``dict``,
  ``sorted``, ``lower``, ``upper``, ``strip``, ``split`` or set ``-``) holds at most
  ``MAX_SIZE`` (1,000,000) characters or items. Items are counted at the top level (a
  list of 1,000 references to one string is 1,000 items: it takes 8 kB); ``str()``
  of anything but a string is estimated, before it is built, from everything it
  holds, escapes included (``lower``/``upper`` results and ``str()`` of the
  application's own objects are checked just after).
- Integers: the operands and results of arithmetic, ``abs``, ``round``, ``sum`` and
  ``int``, and the integers ``str()`` writes, have at most ``MAX_INT_BITS`` (4,096)
  bits, so no ``10**...``-sized number is ever built (``**`` and shifts do not exist,
  and a product is checked before it is computed). ``int()`` and ``float()`` read
  strings of at most ``MAX_NUMBER_TEXT`` (4,300, Python's own default) characters;
  ``round`` takes at most ``MAX_ROUND_DIGITS`` (400) digits; ``Decimal`` operands of
  arithmetic hold at most about 1,270 digits.
- Work: one evaluation spends at most ``MAX_WORK`` (10,000,000) steps. A step is one
  node of the expression evaluated (each is evaluated at most once: there are no
  loops), one item or character copied, scanned, hashed or compared, or 8 bytes
  allocated; an integer costs one more step per 64 bits. What a value holds is
  counted through nesting: flat collections of strings and numbers (and lists,
  tuples and dicts of them) at one step per item per pass, anything else at 16
  steps per object, which is what walking it costs. Sorting ``n`` items costs
  ``log2(n)`` times their size; ``x in sequence`` and ``sequence.count(x)`` cost the
  sequence's length times the number of objects in ``x``; ``x in mapping`` or
  ``set`` and lookups cost the size of ``x``; a comparison costs the size of the
  smaller side (found without walking far into the bigger one). Measuring stops at
  the budget, and is charged too, so a cyclic or enormous value simply runs out of
  budget.
- Types: functions that iterate (``min max sum any all sorted list tuple set
  dict``) accept strings, bytes, lists, tuples, sets, dicts and dict views; ``in``
  looks in those and in any mapping; slices apply to strings, bytes, lists and
  tuples; arithmetic applies to numbers (``bool int float complex Decimal``), ``+``
  and ``*`` also to strings, bytes, lists and tuples, ``-`` also to sets and
  key/item views; ``str()`` takes one argument. Anything else (an iterator, a
  ``Fraction``, the application's own classes) is refused rather than trusted.

Caveat: objects of the application's own classes inside ``data``, ``config`` or
``stats`` run their own ``__eq__``, ``__hash__``, ``__len__``, ``__getitem__``,
``__str__`` and ``__repr__`` when compared, looked up, indexed or converted; the
counts assume they cost in proportion to what they hold.
"""

from __future__ import annotations

import ast
import operator
import sys
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from decimal import Decimal
from itertools import chain
from typing import Any, NoReturn

from routilux.exceptions import ConfigurationError

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_LENGTH",
    "MAX_NUMBER_TEXT",
    "MAX_ROUND_DIGITS",
    "MAX_SIZE",
    "MAX_WORK",
    "compile_condition",
    "evaluate",
]

MAX_LENGTH = 2_000
"""Characters in a condition's text."""
MAX_DEPTH = 500
"""Levels of nesting in a condition (``1 + 1 + ...`` of maximum length is 500 deep)."""
MAX_SIZE = 1_000_000
"""Characters or items of any string, bytes, list, tuple, set or dict a condition builds."""
MAX_WORK = 10_000_000
"""Steps of work in one evaluation (see the module docstring for what a step is)."""
MAX_INT_BITS = 4_096
"""Bits of an integer used in arithmetic or written by ``str()``."""
MAX_NUMBER_TEXT = 4_300
"""Characters of a string ``int()`` or ``float()`` reads."""
MAX_ROUND_DIGITS = 400
"""Digits ``round()`` may round to (beyond any float's exponent; more builds 10**n)."""

# CPython's Decimal reports its coefficient's storage in __sizeof__ (about 0.42 bytes
# a digit over a 104-byte object); 640 bytes is about 1,270 digits, like MAX_INT_BITS.
_MAX_DECIMAL_BYTES = 640

_TEXT = (str, bytes, bytearray)
_SEQUENCES = (str, bytes, bytearray, list, tuple)
_NUMBERS = (int, float, complex, Decimal)
_SET_LIKE = (set, frozenset, KeysView, ItemsView)
_HASHED = (dict, set, frozenset, KeysView, ItemsView, Mapping)
_LINEAR = (list, tuple, ValuesView)
_CONTAINERS = (list, tuple, set, frozenset, dict, KeysView, ValuesView, ItemsView)
_WALKABLE = (*_TEXT, *_CONTAINERS)
_NAMES = frozenset({"data", "config", "stats"})

# Bytes allocated per item, used to charge constructions (CPython, 64-bit).
_POINTER = 8
_NEW_STRING = 80  # a one-character str outside the cached ASCII ones
_NEW_TUPLE = 64  # the (key, value) pairs of an items view
_SET_SLOT = 40
_DICT_SLOT = 100
_PIECE = 64  # one piece of str.split


# -- compiling ------------------------------------------------------------------------

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
}

_OPERATOR_NAMES: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.USub: "-",
    ast.UAdd: "+",
}

_LABELS = {kind: f"'{symbol}'" for kind, symbol in _OPERATOR_NAMES.items()}

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
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)


def compile_condition(text: str) -> ast.Expression:
    """Parse and check a condition; refuse anything outside the whitelist.

    The tree returned is never changed by :func:`evaluate`, so one tree may be
    evaluated by several threads at once.

    Raises:
        ConfigurationError: naming what is not allowed (including a text longer than
            ``MAX_LENGTH``, nested deeper than ``MAX_DEPTH`` or holding an integer
            literal over ``MAX_INT_BITS`` bits).
    """
    if not isinstance(text, str):
        raise ConfigurationError(f"a condition expression must be a string, not {text!r}")
    if len(text) > MAX_LENGTH:
        raise ConfigurationError(f"condition longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigurationError(f"condition {text!r} is not valid: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ConfigurationError(f"condition {text!r} is nested too deeply") from None
    _check_depth(text, tree)
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
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int)
            and node.value.bit_length() > MAX_INT_BITS
        ):
            raise ConfigurationError(
                f"condition {text!r} has an integer literal over {MAX_INT_BITS:,} bits"
            )
    return tree


def _check_depth(text: str, tree: ast.Expression) -> None:
    # The evaluator recurses once per level, so this bounds its stack.
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigurationError(
                f"condition {text[:80]!r}... is nested more than {MAX_DEPTH} levels deep"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


# -- evaluating -----------------------------------------------------------------------


def evaluate(tree: ast.Expression, names: Mapping[str, Any]) -> Any:
    """Evaluate a tree made by :func:`compile_condition` with ``data``, ``config`` and
    ``stats`` bound from ``names`` (a missing name is None).

    Errors of the expression raise as usual (KeyError, TypeError, ZeroDivisionError,
    ...); passing a bound of the module docstring raises ConfigurationError
    (``condition too costly: ...``).
    """
    evaluation = _Evaluation(names)
    try:
        return evaluation.run(tree.body)
    except RecursionError:
        # MAX_DEPTH fits in a normal stack: this is a caller already deep in its own
        # stack, or data nested so deeply that comparing or printing it recursed
        raise ConfigurationError(
            "condition too costly: the condition or its data is nested too deeply "
            "for the stack it runs on"
        ) from None


def _too_costly(message: str) -> NoReturn:
    raise ConfigurationError(f"condition too costly: {message}")


def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        _too_costly(f"{what} would hold {size:,} characters or items (limit {MAX_SIZE:,})")


def _check_number(value: Any, what: str) -> None:
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            _too_costly(
                f"{what} on an integer of {value.bit_length():,} bits (limit {MAX_INT_BITS:,})"
            )
    elif isinstance(value, Decimal) and sys.getsizeof(value) > _MAX_DECIMAL_BYTES:
        _too_costly(f"{what} on a Decimal of more than about 1,270 digits")


def _type_names(*values: Any) -> str:
    return " and ".join(type(value).__name__ for value in values)


def _text_bytes(text: Any) -> int:
    # isascii is O(1) on str; other text is charged at the widest storage
    if isinstance(text, str) and not text.isascii():
        return 4 * len(text)
    return len(text)


def _item_bytes(values: Any) -> int:
    """Bytes a list of ``values``' items takes, with the objects iterating makes."""
    size = len(values)
    extra = 0
    if isinstance(values, str) and not values.isascii():
        extra = _NEW_STRING
    elif isinstance(values, ItemsView):
        extra = _NEW_TUPLE
    return size * (_POINTER + extra) + 64


class _Evaluation:
    """One evaluation: the names it sees and the work it has spent."""

    __slots__ = ("names", "steps")

    def __init__(self, names: Mapping[str, Any]) -> None:
        self.names = names
        self.steps = 0

    # -- accounting -------------------------------------------------------------------

    def charge(self, steps: int, what: str) -> None:
        self.steps += steps
        if self.steps > MAX_WORK:
            _too_costly(f"more than {MAX_WORK:,} steps of work (at {what})")

    def allocate(self, nbytes: int, what: str) -> None:
        self.charge(nbytes >> 3, what)

    def left(self) -> int:
        return max(0, MAX_WORK - self.steps)

    def measure(self, value: Any, cap: int | None = None) -> int:
        """Steps to walk ``value``; past ``cap`` (default: the budget left) it stops
        and returns ``cap + 1``."""
        kind = type(value)
        if kind is str:
            return 1 + len(value)
        if kind in _ATOM_TYPES:
            return 1
        limit = self.left() if cap is None else min(cap, self.left())
        return _measure(value, limit)

    def smaller(self, left: Any, right: Any) -> int:
        """Steps to compare two values: comparing costs at most the size of the
        smaller one, found without walking far into a big one (both are measured with
        a cap that grows fourfold); every walk made on the way is counted, so the
        result is at least the smaller size and at most about three times it."""
        left_kind, right_kind = type(left), type(right)
        if left_kind in _QUICK_TYPES and right_kind in _QUICK_TYPES:
            return 1 + min(_quick_size(left), _quick_size(right))
        limit = self.left()
        spent = 0
        cap = 256
        while True:
            first = _measure(left, min(cap, limit - spent))
            spent += first
            if first <= cap:
                return spent + _measure(right, min(first, limit - spent))
            if spent > limit:
                return spent
            second = _measure(right, min(cap, limit - spent))
            spent += second
            if second <= cap or spent > limit:
                return spent
            cap *= 4

    # -- the tree ---------------------------------------------------------------------

    def run(self, node: Any) -> Any:
        """Evaluate ``node``, an ``ast.expr`` of a checked tree (typed Any because it
        is dispatched on its exact type, which mypy does not narrow on)."""
        # Children are evaluated here rather than in helpers, so that one level of the
        # tree is one Python frame and MAX_DEPTH bounds the recursion.
        self.steps += 1
        # exact types: the tree comes from ast.parse, and `is` is cheaper than isinstance
        kind = type(node)
        if kind is ast.Constant:
            return node.value
        if kind is ast.Name:
            if node.id in _NAMES:
                return self.names.get(node.id)
            return _VALUES[node.id]
        if kind is ast.Compare:
            left = self.run(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.run(comparator)
                if not self.compare(op, left, right):
                    return False
                left = right
            return True
        if kind is ast.BoolOp:
            result: Any = None
            if type(node.op) is ast.And:
                for value in node.values:
                    result = self.run(value)
                    if not result:
                        return result
                return result
            for value in node.values:
                result = self.run(value)
                if result:
                    return result
            return result
        if kind is ast.Subscript:
            target = self.run(node.value)
            index = node.slice
            if type(index) is ast.Slice:
                lower = None if index.lower is None else self.run(index.lower)
                upper = None if index.upper is None else self.run(index.upper)
                step = None if index.step is None else self.run(index.step)
                return self.slice(target, lower, upper, step)
            key = self.run(index)
            if type(target) is dict or isinstance(target, Mapping):
                self.charge(self.measure(key) + 1, "a lookup")
            return target[key]
        if kind is ast.Call:
            func = node.func
            if type(func) is ast.Name:
                function = _FUNCTIONS.get(func.id)
                if function is None:
                    raise ConfigurationError(f"'{func.id}' cannot be called in a condition")
                arguments = []
                for argument in node.args:
                    arguments.append(self.run(argument))
                return function(self, tuple(arguments))
            assert isinstance(func, ast.Attribute)
            target = self.run(func.value)
            method = _METHODS.get(type(target), {}).get(func.attr)
            if method is None:
                raise ConfigurationError(
                    f"{type(target).__name__} has no usable method '{func.attr}' in a condition"
                )
            arguments = []
            for argument in node.args:
                arguments.append(self.run(argument))
            return method(self, target, tuple(arguments))
        if kind is ast.BinOp:
            left = self.run(node.left)
            right = self.run(node.right)
            return self.binary(node.op, left, right)
        if kind is ast.UnaryOp:
            operand = self.run(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            if not isinstance(operand, _NUMBERS):
                raise ConfigurationError(
                    f"unary '{_OPERATOR_NAMES[type(node.op)]}' on "
                    f"{type(operand).__name__} is not allowed in a condition"
                )
            _check_number(operand, _LABELS[type(node.op)])
            return -operand if isinstance(node.op, ast.USub) else +operand
        if kind is ast.IfExp:
            return self.run(node.body if self.run(node.test) else node.orelse)
        if kind is ast.Tuple or kind is ast.List or kind is ast.Set:
            elements = []
            for element in node.elts:
                elements.append(self.run(element))
            self.allocate(_POINTER * len(elements) + 64, "a display")
            if kind is ast.Tuple:
                return tuple(elements)
            if kind is ast.List:
                return elements
            self.hash_all(elements, "a set display")
            return set(elements)
        if kind is ast.Dict:
            keys = []
            values = []
            for key_node, value_node in zip(node.keys, node.values, strict=True):
                assert key_node is not None  # ** is refused when compiled
                keys.append(self.run(key_node))
                values.append(self.run(value_node))
            self.hash_all(keys, "a dict display")
            self.allocate(_DICT_SLOT * len(keys), "a dict display")
            return dict(zip(keys, values, strict=True))
        raise ConfigurationError(f"{type(node).__name__} is not allowed in a condition")

    def hash_all(self, values: list[Any], what: str) -> None:
        for value in values:
            self.charge(self.measure(value) + 1, what)

    # -- operators --------------------------------------------------------------------

    def compare(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        if isinstance(op, ast.Is):
            return left is right
        if isinstance(op, ast.IsNot):
            return left is not right
        if isinstance(op, (ast.In, ast.NotIn)):
            found = self.contains(right, left)
            return found if isinstance(op, ast.In) else not found
        self.charge(self.smaller(left, right), "a comparison")
        return bool(_COMPARE[type(op)](left, right))

    def contains(self, container: Any, item: Any) -> bool:
        kind = type(container)
        if kind is list or kind is tuple:
            self.scan(container, item, "'in'")
        elif kind is dict or kind is set or kind is frozenset:
            self.charge(self.measure(item) + 1, "'in'")
        elif isinstance(container, _TEXT):
            needle = len(item) if isinstance(item, _TEXT) else 1
            self.charge(len(container) + needle + 1, "'in'")
        elif isinstance(container, _HASHED):
            self.charge(self.measure(item) + 1, "'in'")
        elif isinstance(container, _LINEAR):
            self.scan(container, item, "'in'")
        else:
            raise ConfigurationError(
                "'in' in a condition looks in strings, bytes, lists, tuples, sets, "
                f"mappings and dict views, not {type(container).__name__}"
            )
        return item in container

    def scan(self, sequence: Any, item: Any, what: str) -> None:
        """Charge comparing ``item`` with every element of ``sequence``: walking
        ``item`` once, then per element one step and one per object in ``item``."""
        length = len(sequence)
        walked = self.measure(item, self.left())
        self.charge(walked, what)
        self.charge(length * (1 + walked // _WALKED), what)

    def binary(self, op: ast.operator, left: Any, right: Any) -> Any:
        kind = type(op)
        label = _LABELS[kind]
        if isinstance(left, _NUMBERS) and isinstance(right, _NUMBERS):
            _check_number(left, label)
            _check_number(right, label)
            bits = 0
            if isinstance(left, int) and isinstance(right, int):
                if kind is ast.Mult:
                    bits = left.bit_length() + right.bit_length()
                    if bits > MAX_INT_BITS:
                        _too_costly(
                            f"'*' would make an integer of about {bits:,} bits "
                            f"(limit {MAX_INT_BITS:,})"
                        )
                bits = max(bits, left.bit_length(), right.bit_length())
            self.charge(1 + (bits >> 6), label)
            result = _BINARY[kind](left, right)
            _check_number(result, label)
            return result
        if kind is ast.Add:
            if any(
                isinstance(left, family) and isinstance(right, family)
                for family in (str, (bytes, bytearray), list, tuple)
            ):
                size = len(left) + len(right)
                _check_size(size, "'+'")
                self.charge(size, "'+'")
                self.allocate(_POINTER * size if isinstance(left, (list, tuple)) else 0, "'+'")
                if isinstance(left, _TEXT):
                    self.allocate(_text_bytes(left) + _text_bytes(right), "'+'")
                return left + right
        elif kind is ast.Mult:
            sequence, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(sequence, _SEQUENCES) and isinstance(count, int):
                size = len(sequence) * max(count, 0)
                _check_size(size, "repetition with '*'")
                self.charge(size, "'*'")
                if isinstance(sequence, _TEXT):
                    self.allocate(_text_bytes(sequence) * max(count, 0), "'*'")
                else:
                    self.allocate(_POINTER * size, "'*'")
                return left * right
        elif kind is ast.Sub:
            if isinstance(left, _SET_LIKE) and isinstance(right, _SET_LIKE):
                _check_size(len(left), "set '-'")
                self.charge(self.measure(left) + self.measure(right) + 1, "set '-'")
                self.allocate(_SET_SLOT * len(left), "set '-'")
                return left - right
        elif kind is ast.Mod and isinstance(left, _TEXT):
            raise ConfigurationError("string formatting with % is not allowed in a condition")
        raise ConfigurationError(
            f"{label} on {_type_names(left, right)} is not allowed in a condition"
        )

    def slice(self, target: Any, lower: Any, upper: Any, step: Any) -> Any:
        if not isinstance(target, _SEQUENCES):
            raise ConfigurationError(
                "slices in a condition apply to strings, bytes, lists and tuples, "
                f"not {type(target).__name__}"
            )
        # the slice of a range has the length of the result, computed in O(1)
        size = len(range(len(target))[lower:upper:step])
        _check_size(size, "a slice")
        self.charge(size, "a slice")
        self.allocate(_POINTER * size if isinstance(target, (list, tuple)) else 4 * size, "slice")
        return target[lower:upper:step]

    def walked(self, what: str, values: Any) -> Any:
        if not isinstance(values, _WALKABLE):
            raise ConfigurationError(
                f"{what} in a condition takes a string, bytes, list, tuple, set, dict or "
                f"dict view, not {type(values).__name__}"
            )
        return values


_DICT_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_ATOM_TYPES: frozenset[type] = frozenset({float, bool, type(None), complex})
_FLAT_TEXT_AND_NUMBERS = _ATOM_TYPES | {str, int}

# How a walk treats an object, by its exact type: isinstance against the ABCs of the
# dict views is slow, and a walk spends most of its time on this dispatch.
_OTHER_CATEGORY = 0
_TEXT_CATEGORY = 1
_INT_CATEGORY = 2
_CONTAINER_CATEGORY = 3
_CATEGORIES: dict[type, int] = {
    **dict.fromkeys(_ATOM_TYPES, _OTHER_CATEGORY),
    **dict.fromkeys(_TEXT, _TEXT_CATEGORY),
    int: _INT_CATEGORY,
    **dict.fromkeys((list, tuple, set, frozenset, dict, *_DICT_VIEWS), _CONTAINER_CATEGORY),
}


_MORE_CATEGORIES: dict[type, int] = {}


def _category(kind: type) -> int:
    """The category of a type not in _CATEGORIES (subclasses, the application's own
    types), remembered for at most 256 types, so classes made on the fly are not
    kept for ever."""
    category = _MORE_CATEGORIES.get(kind)
    if category is None:
        if issubclass(kind, _TEXT):
            category = _TEXT_CATEGORY
        elif issubclass(kind, int):
            category = _INT_CATEGORY
        elif issubclass(kind, _CONTAINERS):
            category = _CONTAINER_CATEGORY
        else:
            category = _OTHER_CATEGORY
        if len(_MORE_CATEGORIES) >= 256:
            _MORE_CATEGORIES.clear()
        _MORE_CATEGORIES[kind] = category
    return category


# Values compared without a walk: their size is known at once.
_QUICK_TYPES: frozenset[type] = _ATOM_TYPES | {str, int}


def _quick_size(value: Any) -> int:
    kind = type(value)
    if kind is str:
        return len(value)
    if kind is int:
        return int(value.bit_length() >> 6)
    return 0


# Steps charged for each object measured one at a time: a walk in Python costs about
# 250 ns an object, ten to fifty times a step done in C.
_WALKED = 16


def _measure(value: Any, cap: int) -> int:
    """Steps to visit ``value`` and everything it holds: one per item, one per
    character, one more per 64 bits of an integer, and ``_WALKED`` for each object
    that has to be visited one at a time (collections of plain strings, numbers,
    or lists, tuples and dicts of them are counted at C speed). Returns ``cap + 1``
    as soon as the count passes ``cap``, so the walk costs at most about ``cap``
    steps itself; a cycle just runs into the cap."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += _WALKED
        kind = type(item)
        category = _CATEGORIES.get(kind)
        if category is None:
            category = _category(kind)
        if category == _TEXT_CATEGORY:
            total += len(item)
        elif category == _INT_CATEGORY:
            total += item.bit_length() >> 6
        elif category == _CONTAINER_CATEGORY:
            size = len(item)
            if total + size > cap:
                return cap + 1
            parts = (dict.keys(item), dict.values(item)) if isinstance(item, dict) else (item,)
            for part in parts:
                flat = None if size < 16 else _flat(part.__iter__, size, cap - total)
                if flat is None:
                    if total + _WALKED * size > cap:
                        return cap + 1
                    stack.extend(part)
                else:
                    total += flat
        if total > cap:
            return cap + 1
    return total


def _flat(make: Callable[[], Iterator[Any]], size: int, cap: int, depth: int = 0) -> int | None:
    """The steps of the ``size`` items ``make()`` yields when they are plain strings
    and numbers, or lists, tuples or dicts of such (up to four levels), counted with
    passes at C speed, each pass over ``n`` items counting ``n`` steps (a pass costs
    about as much per item as one step of a walk in Python); None for anything else
    (which is then walked one at a time). Past ``cap`` it returns a number over
    ``cap``."""
    kinds = set(map(type, make()))
    total = size
    if kinds <= _FLAT_TEXT_AND_NUMBERS:
        if str in kinds:
            strings = make() if len(kinds) == 1 else filter(str.__instancecheck__, make())
            total += size + sum(map(len, strings))
        if int in kinds:
            ints = make() if len(kinds) == 1 else filter(int.__instancecheck__, make())
            total += size + (sum(map(int.bit_length, ints)) >> 6)
        return total
    if depth >= 4 or not (kinds <= {list, tuple} or kinds == {dict}):
        return None
    inner = sum(map(len, make()))
    total += size
    if kinds == {dict}:
        if total + 2 * inner > cap:
            return cap + 1
        keys = _flat(lambda: chain.from_iterable(map(dict.keys, make())), inner, cap, depth + 1)
        if keys is None:
            return None
        values = _flat(lambda: chain.from_iterable(map(dict.values, make())), inner, cap, depth + 1)
        return None if values is None else total + keys + values
    if total + inner > cap:
        return cap + 1
    rest = _flat(lambda: chain.from_iterable(make()), inner, cap, depth + 1)
    return None if rest is None else total + rest


def _repr_size(value: Any, cap: int) -> int:
    """An upper bound of ``len(repr(value))`` (``len(str(value))`` for a container),
    or ``cap + 1`` once past ``cap``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            # quotes and backslashes double; unprintable characters take up to 10
            total += (2 if item.isprintable() else 10) * len(item) + 4
        elif isinstance(item, (bytes, bytearray)):
            total += 4 * len(item) + 16
        elif isinstance(item, bool) or item is None:
            total += 7
        elif isinstance(item, int):
            bits = item.bit_length()
            if bits > MAX_INT_BITS:
                _too_costly(f"str() of an integer of {bits:,} bits (limit {MAX_INT_BITS:,})")
            total += bits // 3 + 4
        elif isinstance(item, float):
            total += 26
        elif isinstance(item, complex):
            total += 56
        elif isinstance(item, _CONTAINERS):
            size = len(item)
            total += 24 + 6 * size
            if total > cap:
                return cap + 1
            parts = (dict.keys(item), dict.values(item)) if isinstance(item, dict) else (item,)
            for part in parts:
                flat = _flat_repr(part, size)
                if flat is None:
                    stack.extend(part)
                else:
                    total += flat
        else:
            total += 100  # checked after it is made
        if total > cap:
            return cap + 1
    return total


def _flat_repr(items: Any, size: int) -> int | None:
    """``_repr_size`` of plain strings or of plain numbers, at C speed; else None."""
    if size < 16:
        return None
    kinds = set(map(type, items))
    if kinds <= {float, bool, type(None)}:
        return 26 * size
    if kinds == {str}:
        factor = 2 if all(map(str.isprintable, items)) else 10
        return factor * sum(map(len, items)) + 4 * size
    if kinds == {int}:
        bits = max(map(int.bit_length, items))
        if bits > MAX_INT_BITS:
            _too_costly(f"str() of an integer of {bits:,} bits (limit {MAX_INT_BITS:,})")
        return (bits // 3 + 4) * size
    return None


# -- functions ------------------------------------------------------------------------


def _arguments(name: str, args: tuple[Any, ...], low: int, high: int) -> tuple[Any, ...]:
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise TypeError(f"{name}() takes {expected} arguments in a condition, not {len(args)}")
    return args


def _len(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    (value,) = _arguments("len", args, 1, 1)
    return len(value)


def _bool(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    return bool(*_arguments("bool", args, 0, 1))


def _abs(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    (value,) = _arguments("abs", args, 1, 1)
    if not isinstance(value, _NUMBERS):
        raise ConfigurationError(f"abs() of {type(value).__name__} is not allowed in a condition")
    _check_number(value, "abs()")
    return abs(value)


def _isinstance(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    value, types = _arguments("isinstance", args, 2, 2)
    ev.charge(ev.measure(types) + 1, "isinstance()")
    return isinstance(value, types)


def _str(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    if not _arguments("str", args, 0, 1):
        return ""
    (value,) = args
    if type(value) is str:
        return value
    estimate = _repr_size(value, min(MAX_SIZE, ev.left()))
    _check_size(estimate, "str()")
    ev.charge(estimate, "str()")
    text = str(value)
    _check_size(len(text), "str()")
    ev.allocate(_text_bytes(text), "str()")
    return text


def _number_text(what: str, value: Any) -> None:
    if isinstance(value, _TEXT) and len(value) > MAX_NUMBER_TEXT:
        _too_costly(f"{what} of a string of {len(value):,} characters (limit {MAX_NUMBER_TEXT:,})")


def _int(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    if not _arguments("int", args, 0, 2):
        return 0
    value = args[0]
    if isinstance(value, _TEXT):
        _number_text("int()", value)
        ev.charge(len(value), "int()")
    elif isinstance(value, Decimal):
        if value.is_finite() and value.adjusted() > MAX_INT_BITS * 3 // 10:
            _too_costly(f"int() of a Decimal over {MAX_INT_BITS:,} bits")
    elif not isinstance(value, (int, float)):
        raise ConfigurationError(f"int() of {type(value).__name__} is not allowed in a condition")
    result = int(*args)
    _check_number(result, "int()")
    return result


def _float(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    if not _arguments("float", args, 0, 1):
        return 0.0
    (value,) = args
    if isinstance(value, _TEXT):
        _number_text("float()", value)
        ev.charge(len(value), "float()")
    elif not isinstance(value, (int, float, Decimal)):
        raise ConfigurationError(f"float() of {type(value).__name__} is not allowed in a condition")
    return float(value)


def _extreme(name: str, pick: Callable[..., Any]) -> Callable[[_Evaluation, tuple[Any, ...]], Any]:
    label = f"{name}()"

    def extreme(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
        if not args:
            raise TypeError(f"{name}() expects at least one argument")
        values = ev.walked(label, args[0]) if len(args) == 1 else args
        ev.charge(ev.measure(values) + 1, label)
        return pick(values)

    return extreme


def _round(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    number, *digits = _arguments("round", args, 1, 2)
    if not isinstance(number, (int, float, Decimal)):
        raise ConfigurationError(
            f"round() of {type(number).__name__} is not allowed in a condition"
        )
    _check_number(number, "round()")
    if digits and isinstance(digits[0], int) and abs(digits[0]) > MAX_ROUND_DIGITS:
        _too_costly(f"round() to {digits[0]} digits (limit {MAX_ROUND_DIGITS})")
    result = round(number, *digits)
    _check_number(result, "round()")
    return result


def _sum(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    values, *rest = _arguments("sum", args, 1, 2)
    start = rest[0] if rest else 0
    # sum(lists, []) would concatenate in a loop no size check could see
    if isinstance(start, bool) or not isinstance(start, (int, float, Decimal)):
        raise ConfigurationError("sum() in a condition adds numbers only")
    ev.walked("sum()", values)
    _check_number(start, "sum()")
    ev.charge(ev.measure(values) + 1, "sum()")
    result = sum(values, start)
    _check_number(result, "sum()")
    return result


def _any(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    (values,) = _arguments("any", args, 1, 1)
    ev.charge(len(ev.walked("any()", values)) + 1, "any()")
    return any(values)


def _all(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    (values,) = _arguments("all", args, 1, 1)
    ev.charge(len(ev.walked("all()", values)) + 1, "all()")
    return all(values)


def _sorted(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
    (values,) = _arguments("sorted", args, 1, 1)
    size = len(ev.walked("sorted()", values))
    _check_size(size, "sorted()")
    rounds = max(1, size.bit_length())
    ev.charge(ev.measure(values, ev.left() // rounds + 1) * rounds, "sorted()")
    ev.allocate(_item_bytes(values), "sorted()")
    return sorted(values)


def _copy(name: str, kind: type, per_item: int) -> Callable[[_Evaluation, tuple[Any, ...]], Any]:
    hashed = kind in (set, dict)
    label = f"{name}()"

    def copy(ev: _Evaluation, args: tuple[Any, ...]) -> Any:
        if not _arguments(name, args, 0, 1):
            return kind()
        (values,) = args
        size = len(ev.walked(label, values))
        _check_size(size, label)
        ev.charge(size + 1, label)
        if hashed:
            ev.charge(ev.measure(values), label)
        ev.allocate(_item_bytes(values) + per_item * size, label)
        return kind(values)

    return copy


_FunctionImpl = Callable[[_Evaluation, tuple[Any, ...]], Any]

_FUNCTIONS: dict[str, _FunctionImpl] = {
    "len": _len,
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "abs": _abs,
    "min": _extreme("min", min),
    "max": _extreme("max", max),
    "round": _round,
    "sum": _sum,
    "any": _any,
    "all": _all,
    "sorted": _sorted,
    "isinstance": _isinstance,
    "dict": _copy("dict", dict, _DICT_SLOT),
    "list": _copy("list", list, 0),
    "tuple": _copy("tuple", tuple, 0),
    "set": _copy("set", set, _SET_SLOT),
}

# What a function's name means used as a value (``isinstance(data, dict)``); the
# functions can only be called through _FUNCTIONS.
_VALUES: dict[str, Any] = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sum": sum,
    "any": any,
    "all": all,
    "sorted": sorted,
    "isinstance": isinstance,
    "dict": dict,
    "list": list,
    "tuple": tuple,
    "set": set,
}


# -- methods --------------------------------------------------------------------------

_MethodImpl = Callable[[_Evaluation, Any, tuple[Any, ...]], Any]


def _get(ev: _Evaluation, target: Any, args: tuple[Any, ...]) -> Any:
    _arguments("get", args, 1, 2)
    ev.charge(ev.measure(args[0]) + 1, "get()")
    return target.get(*args)


def _view(name: str) -> _MethodImpl:
    def view(ev: _Evaluation, target: Any, args: tuple[Any, ...]) -> Any:
        _arguments(name, args, 0, 0)
        return getattr(target, name)()

    return view


def _search(name: str) -> _MethodImpl:
    """count/index of a list or tuple: compares the argument with every element."""

    label = f"{name}()"

    def search(ev: _Evaluation, target: Any, args: tuple[Any, ...]) -> Any:
        _arguments(name, args, 1, 3)
        ev.scan(target, args[0], label)
        return getattr(target, name)(*args)

    return search


def _text_search(name: str) -> _MethodImpl:
    """count/index/startswith/endswith of a str: scans the string once."""

    label = f"{name}()"

    def search(ev: _Evaluation, target: Any, args: tuple[Any, ...]) -> Any:
        _arguments(name, args, 1, 3)
        ev.charge(len(target) + ev.measure(args[0]) + 1, label)
        return getattr(target, name)(*args)

    return search


def _case(name: str) -> _MethodImpl:
    label = f"{name}()"

    def change_case(ev: _Evaluation, target: Any, args: tuple[Any, ...]) -> Any:
        _arguments(name, args, 0, 0)
        _check_size(len(target), label)
        ev.charge(len(target), label)
        # a character may become three ('ß'.upper() == 'SS', 'ﬃ' -> 'FFI')
        ev.allocate(3 * _text_bytes(target), label)
        result = getattr(target, name)()
        _check_size(len(result), label)
        return result

    return change_case


def _strip(ev: _Evaluation, target: Any, args: tuple[Any, ...]) -> Any:
    _arguments("strip", args, 0, 1)
    characters = args[0] if args else None
    if characters is not None and not isinstance(characters, str):
        raise TypeError("strip() in a condition takes a string of characters")
    _check_size(len(target), "strip()")
    # each character scanned is looked up in the characters to strip
    ev.charge((len(target) + 1) * (1 + len(characters or "") // 16), "strip()")
    ev.allocate(_text_bytes(target), "strip()")
    return target.strip(characters)


def _split(ev: _Evaluation, target: Any, args: tuple[Any, ...]) -> Any:
    _arguments("split", args, 0, 2)
    separator = args[0] if args else None
    if separator is not None and not isinstance(separator, str):
        raise TypeError("split() in a condition takes a string separator")
    _check_size(len(target) + 1, "split()")
    # pieces are at least one character apart (two for whitespace: a character and a space)
    pieces = len(target) // (len(separator) if separator else 2) + 1
    ev.charge(len(target) + len(separator or ""), "split()")
    ev.allocate(pieces * (_PIECE + _POINTER) + _text_bytes(target), "split()")
    return target.split(*args)


_METHODS: dict[type, dict[str, _MethodImpl]] = {
    dict: {"get": _get, "keys": _view("keys"), "values": _view("values"), "items": _view("items")},
    list: {"count": _search("count"), "index": _search("index")},
    tuple: {"count": _search("count"), "index": _search("index")},
    str: {
        "startswith": _text_search("startswith"),
        "endswith": _text_search("endswith"),
        "count": _text_search("count"),
        "index": _text_search("index"),
        "lower": _case("lower"),
        "upper": _case("upper"),
        "strip": _strip,
        "split": _split,
    },
}
