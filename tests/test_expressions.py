"""The safe evaluator of ConditionalRouter's string conditions
(routilux/builtin_routines/_expressions.py).

No test here can run dangerous code even if the evaluator were broken: the payloads are
harmless, and the ``tripwires`` fixture replaces ``open``, ``eval``, ``exec``,
``os.system``, ``os.popen`` and ``subprocess.Popen`` with functions that raise a
``BaseException`` (which no ``except Exception`` and no ``pytest.raises(Exception)``
would swallow).
"""

from __future__ import annotations

import ast
import builtins
import os
import subprocess
from typing import Any

import pytest

from routilux.builtin_routines._expressions import compile_condition, evaluate
from routilux.exceptions import ConfigurationError

DATA = {
    "n": 5,
    "name": "Alice",
    "tags": ["a", "b", "c", "d"],
    "nested": {"x": {"y": 3}},
    "pair": (1, 2, 2),
    "nothing": None,
}


class Tripwire(BaseException):
    """Raised if evaluating a condition reached a dangerous function."""


@pytest.fixture(autouse=True)
def tripwires(monkeypatch):
    fired: list[str] = []

    def wire(name: str) -> Any:
        def tripped(*args: Any, **kwargs: Any) -> Any:
            fired.append(name)
            raise Tripwire(name)

        return tripped

    for target, attribute in [
        (builtins, "open"),
        (builtins, "eval"),
        (builtins, "exec"),
        (os, "system"),
        (os, "popen"),
        (subprocess, "Popen"),
    ]:
        monkeypatch.setattr(target, attribute, wire(f"{target.__name__}.{attribute}"))
    yield fired
    assert fired == [], f"dangerous functions were reached: {fired}"


def ev(text: str, data: Any = None, config: Any = None, stats: Any = None) -> Any:
    names = {"data": DATA if data is None else data, "config": config, "stats": stats}
    return evaluate(compile_condition(text), names)


def refused(text: str, names: dict[str, Any] | None = None) -> str:
    """Assert ``text`` is refused at compile time or fails at evaluation; say where."""
    try:
        tree = compile_condition(text)
    except ConfigurationError:
        return "compile"
    with pytest.raises(Exception):  # noqa: B017 - any ordinary failure is safe
        evaluate(tree, names if names is not None else {"data": DATA})
    return "evaluate"


# -- what is allowed ------------------------------------------------------------------


def test_compile_returns_an_ast_expression_that_can_be_evaluated_many_times():
    tree = compile_condition("data['n'] > 3")
    assert isinstance(tree, ast.Expression)
    assert evaluate(tree, {"data": {"n": 4}}) is True
    assert evaluate(tree, {"data": {"n": 2}}) is False


def test_surrounding_whitespace_is_ignored():
    assert ev("  \n data['n'] == 5 \n ") is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3 - 4", 3),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("-data['n'] + +2", -3),
        ("(1 + 2) * 3", 9),
        ("'ab' + 'cd'", "abcd"),
        ("[1] + [2]", [1, 2]),
        ("'ab' * 3", "ababab"),
        ("3 * [0]", [0, 0, 0]),
        ("data['n'] * 2.5", 12.5),
        ("-2.5 * -2", 5.0),
    ],
)
def test_arithmetic(text, expected):
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data['n'] == 5", True),
        ("data['n'] != 5", False),
        ("data['n'] < 6", True),
        ("data['n'] <= 5", True),
        ("data['n'] > 5", False),
        ("data['n'] >= 5", True),
        ("1 < data['n'] < 10", True),
        ("1 < data['n'] < 3", False),
        ("1 < 2 <= 2 < 3 != 4", True),
        ("data['nothing'] is None", True),
        ("data['name'] is not None", True),
        ("'b' in data['tags']", True),
        ("'z' not in data['tags']", True),
        ("'name' in data", True),
        ("'lic' in data['name']", True),
        ("2 in data['pair']", True),
    ],
)
def test_comparisons(text, expected):
    assert ev(text) is expected


def test_chained_comparisons_stop_at_the_first_false():
    assert ev("1 > 2 < data['missing']") is False
    with pytest.raises(KeyError):
        ev("1 < 2 < data['missing']")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 or '' or 5", 5),
        ("'' or 0", 0),
        ("1 and 0 and 2", 0),
        ("1 and 2", 2),
        ("data['name'] and data['n']", 5),
        ("data['nothing'] or 'default'", "default"),
        ("not data['nothing']", True),
        ("not data['tags']", False),
        ("data['n'] > 1 and data['n'] < 9", True),
        ("(data['n'] > 9) or (data['name'] == 'Alice')", True),
    ],
)
def test_boolean_logic_returns_operand_values(text, expected):
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_boolean_operators_short_circuit():
    assert ev("False and data['missing']") is False
    assert ev("True or data['missing']") is True
    assert ev("data['nothing'] is not None and data['nothing']['x'] > 1") is False


def test_conditional_expressions_evaluate_only_the_chosen_branch():
    assert ev("'big' if data['n'] > 3 else 'small'") == "big"
    assert ev("'big' if data['n'] > 30 else 'small'") == "small"
    assert ev("1 if True else data['missing']") == 1
    assert ev("data['missing'] if False else 2") == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data['tags'][0]", "a"),
        ("data['tags'][-1]", "d"),
        ("data['tags'][1:3]", ["b", "c"]),
        ("data['tags'][::2]", ["a", "c"]),
        ("data['tags'][:-2]", ["a", "b"]),
        ("data['tags'][::-1]", ["d", "c", "b", "a"]),
        ("data['name'][:3]", "Ali"),
        ("data['nested']['x']['y']", 3),
        ("data['pair'][1:]", (2, 2)),
        ("{'k': [10, 20]}['k'][1]", 20),
    ],
)
def test_subscripts_and_slices(text, expected):
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-1.5", -1.5),
        ("'text'", "text"),
        ('"double"', "double"),
        ("True", True),
        ("None", None),
        ("(1, 'a')", (1, "a")),
        ("()", ()),
        ("[1, [2]]", [1, [2]]),
        ("{'a': 1, 2: 'b'}", {"a": 1, 2: "b"}),
        ("{1, 2, 2}", {1, 2}),
    ],
)
def test_literals(text, expected):
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("len(data['tags'])", 4),
        ("str(data['n'])", "5"),
        ("int('7')", 7),
        ("float('1.5')", 1.5),
        ("bool('')", False),
        ("abs(-3)", 3),
        ("min(3, 1, 2)", 1),
        ("max(data['tags'])", "d"),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("sum([1, 2, 3])", 6),
        ("any([0, '', 1])", True),
        ("all([1, 0])", False),
        ("sorted([3, 1, 2])", [1, 2, 3]),
        ("isinstance(data, dict)", True),
        ("isinstance(data['n'], (str, float))", False),
        ("dict([('a', 1)])", {"a": 1}),
        ("list('ab')", ["a", "b"]),
        ("tuple([1])", (1,)),
        ("set([1, 1])", {1}),
    ],
)
def test_whitelisted_functions(text, expected):
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data.get('n')", 5),
        ("data.get('missing', 0)", 0),
        ("sorted(data['nested'].keys())", ["x"]),
        ("list(data['nested']['x'].values())", [3]),
        ("sorted(data['nested']['x'].items())", [("y", 3)]),
        ("data['tags'].count('a')", 1),
        ("data['tags'].index('c')", 2),
        ("data['pair'].count(2)", 2),
        ("data['pair'].index(2)", 1),
        ("data['name'].startswith('Al')", True),
        ("data['name'].endswith('ce')", True),
        ("data['name'].lower()", "alice"),
        ("data['name'].upper()", "ALICE"),
        ("'  x '.strip()", "x"),
        ("'a,b'.split(',')", ["a", "b"]),
        ("'a b'.split()", ["a", "b"]),
        ("'aab'.count('a')", 2),
        ("'abc'.index('c')", 2),
    ],
)
def test_whitelisted_methods(text, expected):
    assert ev(text) == expected


def test_the_three_names_are_bound_and_missing_ones_are_none():
    names = {"data": 1, "config": {"limit": 2}, "stats": {"route_counts": {"a": 3}}}
    tree = compile_condition("data + config['limit'] + stats['route_counts']['a']")
    assert evaluate(tree, names) == 6
    assert evaluate(compile_condition("stats is None and config is None"), {"data": 1}) is True


def test_a_realistic_condition():
    text = "data['priority'] == 'high' and len(data['items']) > 3"
    assert ev(text, {"priority": "high", "items": [1, 2, 3, 4]}) is True
    assert ev(text, {"priority": "high", "items": [1]}) is False
    assert ev(text, {"priority": "low", "items": [1, 2, 3, 4]}) is False


def test_evaluation_does_not_change_the_data():
    data = {"tags": ["b", "a"], "d": {"k": 1}}
    ev("sorted(data['tags']) == ['a', 'b'] and data['d'].get('k') == 1", data)
    assert data == {"tags": ["b", "a"], "d": {"k": 1}}


def test_an_expression_of_the_maximum_length_is_accepted():
    text = "1" + " + 1" * 499 + " " * 3
    assert len(text) == 2000
    assert evaluate(compile_condition(text), {}) == 500


def test_an_expression_longer_than_the_limit_is_refused():
    text = "1" + " + 1" * 499 + " " * 4
    assert len(text) == 2001
    with pytest.raises(ConfigurationError, match="longer than 2000 characters"):
        compile_condition(text)
    with pytest.raises(ConfigurationError, match="longer than"):
        compile_condition("data['n'] == 1 or " * 200 + "True")


@pytest.mark.parametrize("text", [None, 5, b"data", ["data"]])
def test_a_condition_must_be_a_string(text):
    with pytest.raises(ConfigurationError, match="must be a string"):
        compile_condition(text)


@pytest.mark.parametrize("text", ["", "   ", "data[", "1 +", "data['n'] >", "(", "if data: 1"])
def test_invalid_syntax_is_a_configuration_error(text):
    with pytest.raises(ConfigurationError, match="is not valid"):
        compile_condition(text)


# -- escape attempts refused when compiled --------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "().__class__",
        "data.__class__",
        "''.__class__.__mro__",
        "().__class__.__bases__[0].__subclasses__()",
        "data.get.__self__",
        "data.get('n').__class__",
        "len.__self__",
        "str.__dict__",
        "data.__getitem__('n')",
        "data.__class__.__init__.__globals__",
        "data.keys",
        "data['name'].upper",
    ],
)
def test_attribute_access_is_refused(text):
    with pytest.raises(ConfigurationError, match="attribute"):
        compile_condition(text)


@pytest.mark.parametrize(
    "name",
    [
        "open",
        "__import__",
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "type",
        "object",
        "super",
        "breakpoint",
        "input",
        "print",
        "exit",
        "memoryview",
        "pow",
        "map",
        "filter",
        "iter",
        "next",
        "range",
        "format",
    ],
)
def test_calling_a_name_off_the_whitelist_is_refused(name):
    with pytest.raises(ConfigurationError, match=f"unknown name '{name}'"):
        compile_condition(f"{name}('/nonexistent/routilux-test')")


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "open('/nonexistent/routilux-test').read()",
        "eval('1')",
        "exec('x = 1')",
        "getattr(data, '__class__')",
        "globals()['__builtins__']",
        "type(data).__mro__",
    ],
)
def test_classic_escapes_are_refused(text):
    with pytest.raises(ConfigurationError):
        compile_condition(text)


@pytest.mark.parametrize(
    "name", ["x", "self", "job", "flow", "os", "sys", "builtins", "__builtins__", "__name__"]
)
def test_names_other_than_data_config_stats_and_functions_are_refused(name):
    with pytest.raises(ConfigurationError, match=f"unknown name '{name}'"):
        compile_condition(f"{name} == 1")


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("lambda: 1", "Lambda"),
        ("(lambda: open('/nonexistent'))()", "(Lambda|something other than a name)"),
        ("[x for x in data]", "ListComp"),
        ("{x for x in data}", "SetComp"),
        ("{x: 1 for x in data}", "DictComp"),
        ("(x for x in data)", "GeneratorExp"),
        ("any(x > 1 for x in data['tags'])", "GeneratorExp"),
        ("(n := 1)", "NamedExpr"),
        ("[y := 5, y]", "NamedExpr"),
        ("f'{data}'", "JoinedStr"),
        ("f'{data.__class__}'", "JoinedStr"),
        ("f'{data!r:>100000}'", "JoinedStr"),
        ("2 ** 10", "Pow"),
        ("data['n'] ** data['n']", "Pow"),
        ("1 << 100", "LShift"),
        ("1 >> 1", "RShift"),
        ("1 | 2", "BitOr"),
        ("1 & 2", "BitAnd"),
        ("1 ^ 2", "BitXor"),
        ("~1", "Invert"),
        ("data @ data", "MatMult"),
        ("len(*data)", "Starred"),
        ("[*data]", "Starred"),
        ("await data", "Await"),
    ],
)
def test_disallowed_constructs_are_refused(text, node):
    pattern = node if node.startswith("(") else f"uses {node}"
    with pytest.raises(ConfigurationError, match=pattern):
        compile_condition(text)


@pytest.mark.parametrize(
    "text",
    ["sorted(data, key=len)", "max(data['tags'], default=1)", "dict(**data)", "int('7', base=8)"],
)
def test_keyword_arguments_are_refused(text):
    with pytest.raises(ConfigurationError, match="keyword arguments"):
        compile_condition(text)


@pytest.mark.parametrize(
    "text",
    [
        "import os",
        "from os import system",
        "x = 1",
        "data['n'] = 1",
        "data += 1",
        "del data",
        "def f(): pass",
        "for x in data: pass",
        "while True: pass",
        "raise SystemExit",
        "assert False",
        "pass",
        "global x",
        "class A: pass",
        "with open('/nonexistent') as f: pass",
        "yield data",
        "1; import os",
        "1\nimport os",
    ],
)
def test_statements_are_refused(text):
    with pytest.raises(ConfigurationError, match="is not valid"):
        compile_condition(text)


@pytest.mark.parametrize(
    ("text", "attribute"),
    [
        ("data.pop('n')", "pop"),
        ("data.update({})", "update"),
        ("data.clear()", "clear"),
        ("data.setdefault('a', 1)", "setdefault"),
        ("data.copy()", "copy"),
        ("data['tags'].append(1)", "append"),
        ("data['tags'].sort()", "sort"),
        ("'x'.format(1)", "format"),
        ("'{0.__class__}'.format(data)", "format"),
        ("','.join(data['tags'])", "join"),
        ("'x'.replace('x', 'y')", "replace"),
        ("'x'.ljust(100000000)", "ljust"),
        ("'x'.center(100000000)", "center"),
        ("'x'.zfill(100000000)", "zfill"),
        ("'x'.encode()", "encode"),
    ],
)
def test_methods_off_the_whitelist_are_refused(text, attribute):
    data = {"n": 1, "tags": ["b", "a"]}
    with pytest.raises(ConfigurationError, match=f"attribute '{attribute}'"):
        compile_condition(text)
    assert data == {"n": 1, "tags": ["b", "a"]}


@pytest.mark.parametrize(
    "text",
    ["data['f']()", "config['routes'][0][1](data)", "[len][0](data)", "(data or len)(data)"],
)
def test_calling_anything_but_a_name_or_method_is_refused(text):
    with pytest.raises(ConfigurationError, match="calls something other than a name"):
        compile_condition(text)


# -- escape attempts that fail safely when evaluated ----------------------------------


class Spy:
    """A callable value that records any call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return True

    def count(self, *args: Any) -> int:
        self.calls += 1
        return 0


class SneakyDict(dict):
    """A dict subclass whose whitelisted-looking method must not be reached."""

    calls = 0

    def get(self, *args: Any) -> Any:
        type(self).calls += 1
        return True


@pytest.mark.parametrize("name", ["data", "config", "stats"])
def test_calling_the_bound_names_fails_without_calling_them(name):
    spy = Spy()
    tree = compile_condition(f"{name}()")
    with pytest.raises(ConfigurationError, match="cannot be called"):
        evaluate(tree, {name: spy})
    assert spy.calls == 0


def test_whitelisted_method_names_only_work_on_their_exact_types():
    spy = Spy()
    with pytest.raises(ValueError, match="no usable method 'count'"):
        evaluate(compile_condition("data.count(1)"), {"data": spy})
    assert spy.calls == 0
    with pytest.raises(ValueError, match="no usable method 'get'"):
        evaluate(compile_condition("data.get('x')"), {"data": SneakyDict()})
    assert SneakyDict.calls == 0
    assert refused("'abc'.get('a')") == "evaluate"
    assert refused("str.lower(data)", {"data": "ABC"}) == "evaluate"
    assert refused("data.split(',')", {"data": {"a": 1}}) == "evaluate"


@pytest.mark.parametrize(
    "text",
    [
        "'a' * 100001",
        "100001 * 'a'",
        "'ab' * 50001",
        "[0] * 100001",
        "(1,) * 100001",
        "b'a' * 100001",
        "'a' * 100000000",
        "data['s'] * data['big']",
        "data['big'] * [data['s']]",
    ],
)
def test_huge_repetition_is_refused(text):
    with pytest.raises(ValueError, match="repetition too large"):
        evaluate(compile_condition(text), {"data": {"s": "x", "big": 10**8}})


def test_repetition_up_to_the_limit_is_allowed():
    assert len(ev("'a' * 100000")) == 100000
    assert ev("[0] * -3") == []


def test_deep_nesting_fails_without_harm():
    assert refused("-" * 1999 + "1") in ("compile", "evaluate")
    # moderate nesting is fine
    assert ev("not " * 100 + "data", 1) is True
    assert ev("-" * 101 + "data", 1) == -1


def test_an_extended_slice_fails_safely():
    assert refused("data['tags'][1:2, 3]") in ("compile", "evaluate")


@pytest.mark.parametrize("text", ["len('%0200000d' % 1)", "len('%*d' % (200000, 1))"])
def test_string_formatting_cannot_build_huge_strings(text):
    assert refused(text) in ("compile", "evaluate")


@pytest.mark.parametrize(
    "text", ["len(str(['a' * 1000] * 1000))", "len(sum([[0] * 100000] * 3, []))"]
)
def test_nested_repetition_cannot_exceed_the_bound(text):
    assert refused(text) in ("compile", "evaluate")


def test_round_cannot_hide_a_huge_exponentiation():
    assert refused("round(1, -100000)") in ("compile", "evaluate")


def test_dict_unpacking_is_refused_or_correct():
    try:
        tree = compile_condition("{**data}")
    except ConfigurationError:
        return
    assert evaluate(tree, {"data": {"a": 1}}) == {"a": 1}
