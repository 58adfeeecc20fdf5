# SPDX-License-Identifier: Apache-2.0
"""A small evaluator for the CEL subset that CRD x-kubernetes-validations use.

Covers the expression grammar (ternary, logical operators with CEL's error absorption,
comparisons, arithmetic, `in`, member access, indexing, list and map literals), the macros
has/all/exists/exists_one/map/filter, and the functions Kubernetes adds that CRD rules use:
strings (matches, contains, startsWith, endsWith, replace, split, substring, indexOf,
lowerAscii, upperAscii, trim, find, findAll), lists (size, sum, min, max, isSorted, indexOf),
duration() with getHours/getMinutes/getSeconds/getMilliseconds, and the quantity library
(isQuantity, quantity, isInteger, asInteger, asApproximateFloat, sign, compareTo, isLessThan,
isGreaterThan, add, sub). Not a full CEL: no protobuf messages, no timestamps arithmetic,
no cost estimation.
"""

import re
from fractions import Fraction

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


class CelError(Exception):
    pass


class Duration:
    __slots__ = ("ns",)

    def __init__(self, ns):
        self.ns = int(ns)

    def __eq__(self, o):
        return isinstance(o, Duration) and o.ns == self.ns

    def __lt__(self, o):
        _same(self, o)
        return self.ns < o.ns

    def __le__(self, o):
        _same(self, o)
        return self.ns <= o.ns

    def __gt__(self, o):
        _same(self, o)
        return self.ns > o.ns

    def __ge__(self, o):
        _same(self, o)
        return self.ns >= o.ns

    def __hash__(self):
        return hash(self.ns)

    def __repr__(self):
        return "duration(%dns)" % self.ns


class Quantity:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = Fraction(value)

    def __eq__(self, o):
        return isinstance(o, Quantity) and o.value == self.value

    def __hash__(self):
        return hash(self.value)


class CelType:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __eq__(self, o):
        return isinstance(o, CelType) and o.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return self.name


TYPES = {n: CelType(n) for n in ("int", "uint", "double", "bool", "string", "bytes", "list",
                                 "map", "null_type", "type")}
TYPES["google.protobuf.Duration"] = CelType("google.protobuf.Duration")


def _same(a, b):
    if type(a) is not type(b):
        raise CelError("no such overload")


def type_of(v):
    if v is None:
        return TYPES["null_type"]
    if isinstance(v, bool):
        return TYPES["bool"]
    if isinstance(v, int):
        return TYPES["int"]
    if isinstance(v, float):
        return TYPES["double"]
    if isinstance(v, str):
        return TYPES["string"]
    if isinstance(v, list):
        return TYPES["list"]
    if isinstance(v, dict):
        return TYPES["map"]
    if isinstance(v, Duration):
        return TYPES["google.protobuf.Duration"]
    if isinstance(v, Quantity):
        return CelType("kubernetes.Quantity")
    if isinstance(v, CelType):
        return TYPES["type"]
    raise CelError("unknown value type %r" % (v,))


# ---------------------------------------------------------------------------------------------
# Durations and quantities as Kubernetes and Go parse them


_DUR_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9,
              "m": 60 * 10**9, "h": 3600 * 10**9}
_DUR_TERM = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(s, extra_units=None):
    """time.ParseDuration; extra_units adds units such as d and w (in ns)."""
    units = dict(_DUR_UNITS)
    if extra_units:
        units.update(extra_units)
    orig = s
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise CelError("invalid duration %r" % orig)
    total = Fraction(0)
    unit_re = "|".join(sorted((re.escape(u) for u in units), key=len, reverse=True))
    term = re.compile(r"([0-9]*(?:\.[0-9]*)?)(%s)" % unit_re)
    pos = 0
    while pos < len(s):
        m = term.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise CelError("invalid duration %r" % orig)
        total += Fraction(m.group(1)) * units[m.group(2)]
        pos = m.end()
    ns = int(total)
    if ns > INT64_MAX:
        raise CelError("invalid duration %r: overflow" % orig)
    return -ns if neg else ns


_QTY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                  r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
_QTY_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
               "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
               "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def parse_quantity(s):
    """resource.ParseQuantity as an exact fraction (no rounding to the nano scale)."""
    if not isinstance(s, str):
        raise CelError("quantity of a non-string")
    m = _QTY.match(s)
    if not m:
        raise CelError("quantities must match the regular expression "
                       "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    num = Fraction(m.group(1))
    suf = m.group(2) or ""
    if suf[:1] in ("e", "E"):
        exp = int(suf[1:])
        num = num * (Fraction(10) ** exp)
    elif suf:
        num = num * _QTY_SUFFIX[suf]
    return num


# ---------------------------------------------------------------------------------------------
# Lexer

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<float>(?:[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|\.[0-9]+(?:[eE][+-]?[0-9]+)?))
  | (?P<hex>0[xX][0-9a-fA-F]+[uU]?)
  | (?P<int>[0-9]+[uU]?)
  | (?P<string>[rR]?(?:'''(?:.|\n)*?'''|\"\"\"(?:.|\n)*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
""", re.VERBOSE)

_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b",
        "f": "\f", "v": "\v", "?": "?", "`": "`"}


def _unquote(tok):
    raw = tok[:1] in ("r", "R")
    if raw:
        tok = tok[1:]
    q = 3 if tok[:3] in ("'''", '"""') else 1
    body = tok[q:-q]
    if raw:
        return body
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in _ESC:
            out.append(_ESC[n])
            i += 2
        elif n in "xX":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif n == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif n == "U":
            out.append(chr(int(body[i + 2:i + 10], 16)))
            i += 10
        elif n in "01234567":
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise CelError("invalid escape \\%s" % n)
    return "".join(out)


def tokenize(src):
    toks = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise CelError("Syntax error: token recognition error at: '%s'" % src[pos])
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind in ("ws", "comment"):
            continue
        if kind == "float":
            toks.append(("lit", float(text)))
        elif kind == "hex":
            toks.append(("lit", int(text.rstrip("uU"), 16)))
        elif kind == "int":
            toks.append(("lit", int(text.rstrip("uU"))))
        elif kind == "string":
            toks.append(("lit", _unquote(text)))
        elif kind == "ident":
            if text == "true":
                toks.append(("lit", True))
            elif text == "false":
                toks.append(("lit", False))
            elif text == "null":
                toks.append(("lit", None))
            elif text == "in":
                toks.append(("op", "in"))
            else:
                toks.append(("ident", text))
        else:
            toks.append(("op", text))
    toks.append(("eof", None))
    return toks


# ---------------------------------------------------------------------------------------------
# Parser: AST nodes are tuples whose first element names the node.

class _Parser:
    def __init__(self, src):
        self.toks = tokenize(src)
        self.i = 0

    def peek(self, k=0):
        return self.toks[self.i + k]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept(self, op):
        t = self.peek()
        if t[0] == "op" and t[1] == op:
            self.i += 1
            return True
        return False

    def expect(self, op):
        if not self.accept(op):
            raise CelError("Syntax error: expected '%s', got %r" % (op, self.peek()[1]))

    def parse(self):
        e = self.expr()
        if self.peek()[0] != "eof":
            raise CelError("Syntax error: unexpected %r" % (self.peek()[1],))
        return e

    def expr(self):
        c = self.or_()
        if self.accept("?"):
            a = self.or_()
            self.expect(":")
            b = self.expr()
            return ("cond", c, a, b)
        return c

    def or_(self):
        e = self.and_()
        while self.accept("||"):
            e = ("or", e, self.and_())
        return e

    def and_(self):
        e = self.rel()
        while self.accept("&&"):
            e = ("and", e, self.rel())
        return e

    def rel(self):
        e = self.add()
        while True:
            t = self.peek()
            if t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">=", "in"):
                self.i += 1
                e = ("bin", t[1], e, self.add())
            else:
                return e

    def add(self):
        e = self.mul()
        while True:
            t = self.peek()
            if t[0] == "op" and t[1] in ("+", "-"):
                self.i += 1
                e = ("bin", t[1], e, self.mul())
            else:
                return e

    def mul(self):
        e = self.unary()
        while True:
            t = self.peek()
            if t[0] == "op" and t[1] in ("*", "/", "%"):
                self.i += 1
                e = ("bin", t[1], e, self.unary())
            else:
                return e

    def unary(self):
        if self.accept("!"):
            return ("not", self.unary())
        if self.accept("-"):
            t = self.peek()
            if t[0] == "lit" and isinstance(t[1], (int, float)) and not isinstance(t[1], bool):
                self.i += 1
                return self.postfix(("lit", -t[1]))
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def args(self):
        out = []
        if self.accept(")"):
            return out
        while True:
            out.append(self.expr())
            if self.accept(")"):
                return out
            self.expect(",")

    def postfix(self, e):
        while True:
            if self.accept("."):
                t = self.take()
                if t[0] != "ident":
                    raise CelError("Syntax error: expected a field name")
                if self.accept("("):
                    e = ("call", t[1], e, self.args())
                else:
                    e = ("member", e, t[1])
            elif self.accept("["):
                idx = self.expr()
                self.expect("]")
                e = ("index", e, idx)
            else:
                return e

    def primary(self):
        t = self.take()
        if t[0] == "lit":
            return ("lit", t[1])
        if t[0] == "ident":
            if self.accept("("):
                return ("call", t[1], None, self.args())
            return ("ident", t[1])
        if t[0] == "op" and t[1] == "(":
            e = self.expr()
            self.expect(")")
            return e
        if t[0] == "op" and t[1] == "[":
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.expr())
                    if self.accept("]"):
                        break
                    self.expect(",")
                    if self.accept("]"):
                        break
            return ("list", items)
        if t[0] == "op" and t[1] == "{":
            entries = []
            if not self.accept("}"):
                while True:
                    k = self.expr()
                    self.expect(":")
                    entries.append((k, self.expr()))
                    if self.accept("}"):
                        break
                    self.expect(",")
                    if self.accept("}"):
                        break
            return ("map", entries)
        if t[0] == "op" and t[1] == ".":
            return self.primary()
        raise CelError("Syntax error: unexpected %r" % (t[1],))


_cache = {}


def compile_expr(src):
    ast = _cache.get(src)
    if ast is None:
        ast = _Parser(src).parse()
        _cache[src] = ast
    return ast


# ---------------------------------------------------------------------------------------------
# Evaluation

def _check_int(v):
    if v < INT64_MIN or v > INT64_MAX:
        raise CelError("integer overflow")
    return v


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(a, b):
    if _num(a) and _num(b):
        return a == b
    if type(a) is not type(b):
        if isinstance(a, bool) or isinstance(b, bool):
            return False
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    return a == b


def _cmp(op, a, b):
    if _num(a) and _num(b):
        pass
    elif type(a) is not type(b) or isinstance(a, (dict, list, type(None))):
        raise CelError("no such overload: %s %s %s" % (type_of(a), op, type_of(b)))
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _arith(op, a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        raise CelError("no such overload: bool %s" % op)
    if isinstance(a, int) and isinstance(b, int):
        if op == "+":
            return _check_int(a + b)
        if op == "-":
            return _check_int(a - b)
        if op == "*":
            return _check_int(a * b)
        if b == 0:
            raise CelError("division by zero" if op == "/" else "modulus by zero")
        q = abs(a) // abs(b)
        if (a < 0) != (b < 0):
            q = -q
        return _check_int(q) if op == "/" else a - q * b
    if isinstance(a, float) and isinstance(b, float):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0.0:
                return float("inf") if a > 0 else float("-inf") if a < 0 else float("nan")
            return a / b
        raise CelError("no such overload: double %")
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        return a + b
    if isinstance(a, Duration) and isinstance(b, Duration) and op in ("+", "-"):
        return Duration(a.ns + b.ns if op == "+" else a.ns - b.ns)
    raise CelError("no such overload: %s %s %s" % (type_of(a), op, type_of(b)))


class _Env:
    def __init__(self, vars_):
        self.vars = vars_


def evaluate(src, variables):
    """Evaluate a CEL expression with the given variables (e.g. {'self': obj})."""
    return _eval(compile_expr(src), _Env(dict(variables)))


def _eval(n, env):
    kind = n[0]
    if kind == "lit":
        return n[1]
    if kind == "ident":
        name = n[1]
        if name in env.vars:
            return env.vars[name]
        if name in TYPES:
            return TYPES[name]
        raise CelError("undeclared reference to '%s'" % name)
    if kind == "member":
        obj = _eval(n[1], env)
        if isinstance(obj, dict):
            if n[2] not in obj:
                raise CelError("no such key: %s" % n[2])
            return obj[n[2]]
        raise CelError("type '%s' does not support field selection" % type_of(obj))
    if kind == "index":
        obj = _eval(n[1], env)
        idx = _eval(n[2], env)
        if isinstance(obj, list):
            if not isinstance(idx, int) or isinstance(idx, bool):
                if isinstance(idx, float) and idx.is_integer():
                    idx = int(idx)
                else:
                    raise CelError("no such overload: list index")
            if idx < 0 or idx >= len(obj):
                raise CelError("index out of bounds: %d" % idx)
            return obj[idx]
        if isinstance(obj, dict):
            if idx not in obj:
                raise CelError("no such key: %s" % (idx,))
            return obj[idx]
        raise CelError("no such overload: index of %s" % type_of(obj))
    if kind == "cond":
        c = _eval(n[1], env)
        if not isinstance(c, bool):
            raise CelError("no matching overload for '_?_:_'")
        return _eval(n[2] if c else n[3], env)
    if kind in ("or", "and"):
        short = kind == "or"
        err = None
        try:
            a = _eval(n[1], env)
            if not isinstance(a, bool):
                raise CelError("no matching overload for logical operator")
            if a is short:
                return short
        except CelError as e:
            err = e
        b = _eval(n[2], env)
        if not isinstance(b, bool):
            raise CelError("no matching overload for logical operator")
        if b is short:
            return short
        if err:
            raise err
        return not short
    if kind == "not":
        v = _eval(n[1], env)
        if not isinstance(v, bool):
            raise CelError("no matching overload for '!_'")
        return not v
    if kind == "neg":
        v = _eval(n[1], env)
        if isinstance(v, int) and not isinstance(v, bool):
            return _check_int(-v)
        if isinstance(v, float):
            return -v
        if isinstance(v, Duration):
            return Duration(-v.ns)
        raise CelError("no matching overload for '-_'")
    if kind == "bin":
        op = n[1]
        a = _eval(n[2], env)
        b = _eval(n[3], env)
        if op == "==":
            return _eq(a, b)
        if op == "!=":
            return not _eq(a, b)
        if op in ("<", "<=", ">", ">="):
            return _cmp(op, a, b)
        if op == "in":
            if isinstance(b, list):
                return any(_eq(a, x) for x in b)
            if isinstance(b, dict):
                return a in b
            raise CelError("no such overload: in %s" % type_of(b))
        return _arith(op, a, b)
    if kind == "list":
        return [_eval(x, env) for x in n[1]]
    if kind == "map":
        return {_eval(k, env): _eval(v, env) for k, v in n[1]}
    if kind == "call":
        return _call(n, env)
    raise CelError("unknown node %s" % kind)


_MACROS = ("all", "exists", "exists_one", "map", "filter")


def _macro(name, target, args, env):
    coll = _eval(target, env)
    if isinstance(coll, dict):
        items = list(coll.keys())
    elif isinstance(coll, list):
        items = coll
    else:
        raise CelError("no such overload: %s on %s" % (name, type_of(coll)))
    if not args or args[0][0] != "ident":
        raise CelError("%s: first argument must be a variable name" % name)
    var = args[0][1]

    def run(expr, item):
        saved = env.vars.get(var, _MISSING)
        env.vars[var] = item
        try:
            return _eval(expr, env)
        finally:
            if saved is _MISSING:
                del env.vars[var]
            else:
                env.vars[var] = saved

    if name == "map":
        if len(args) == 2:
            return [run(args[1], x) for x in items]
        out = []
        for x in items:
            if run(args[1], x):
                out.append(run(args[2], x))
        return out
    if name == "filter":
        return [x for x in items if run(args[1], x)]
    if name == "all":
        err = None
        for x in items:
            try:
                if run(args[1], x) is False:
                    return False
            except CelError as e:
                err = e
        if err:
            raise err
        return True
    if name == "exists":
        err = None
        for x in items:
            try:
                if run(args[1], x) is True:
                    return True
            except CelError as e:
                err = e
        if err:
            raise err
        return False
    return sum(1 for x in items if run(args[1], x) is True) == 1


_MISSING = object()


def _has(arg, env):
    if arg[0] != "member":
        raise CelError("invalid argument to has() macro")
    obj = _eval(arg[1], env)
    if isinstance(obj, dict):
        return arg[2] in obj
    raise CelError("invalid type for field selection")


def _as_int(v):
    if isinstance(v, bool):
        raise CelError("no such overload: int(bool)")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise CelError("range error")
        return _check_int(int(v))
    if isinstance(v, str):
        try:
            return _check_int(int(v, 10))
        except ValueError:
            raise CelError("cannot convert %r to int" % v)
    if isinstance(v, Duration):
        return v.ns
    raise CelError("no such overload: int(%s)" % type_of(v))


def _as_double(v):
    if isinstance(v, bool):
        raise CelError("no such overload: double(bool)")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise CelError("cannot convert %r to double" % v)
    raise CelError("no such overload: double(%s)" % type_of(v))


def _as_string(v):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        return r[:-2] if r.endswith(".0") else r
    if isinstance(v, Duration):
        s = Fraction(v.ns, 10**9)
        return ("%d" % s if s.denominator == 1 else "%s" % float(s)) + "s"
    raise CelError("no such overload: string(%s)" % type_of(v))


def _re(pattern):
    try:
        return re.compile(pattern)
    except re.error as e:
        raise CelError("invalid regular expression: %s" % e)


def _call(n, env):
    name, target, args = n[1], n[2], n[3]
    if target is None and name == "has":
        if len(args) != 1:
            raise CelError("has() takes one argument")
        return _has(args[0], env)
    if target is not None and name in _MACROS:
        return _macro(name, target, args, env)
    vals = [_eval(a, env) for a in args]
    if target is None:
        return _global(name, vals)
    recv = _eval(target, env)
    return _method(name, recv, vals)


def _global(name, a):
    if name == "size" and len(a) == 1:
        return _method("size", a[0], [])
    if name == "type" and len(a) == 1:
        return type_of(a[0])
    if name == "int" and len(a) == 1:
        return _as_int(a[0])
    if name == "uint" and len(a) == 1:
        v = _as_int(a[0])
        if v < 0:
            raise CelError("range error")
        return v
    if name == "double" and len(a) == 1:
        return _as_double(a[0])
    if name == "string" and len(a) == 1:
        return _as_string(a[0])
    if name == "bool" and len(a) == 1:
        if isinstance(a[0], bool):
            return a[0]
        if a[0] in ("true", "True", "TRUE", "t", "1"):
            return True
        if a[0] in ("false", "False", "FALSE", "f", "0"):
            return False
        raise CelError("cannot convert to bool")
    if name == "duration" and len(a) == 1:
        if isinstance(a[0], Duration):
            return a[0]
        if not isinstance(a[0], str):
            raise CelError("no such overload: duration(%s)" % type_of(a[0]))
        try:
            return Duration(parse_go_duration(a[0]))
        except CelError:
            raise CelError('type conversion error from \'string\' to '
                           '\'google.protobuf.Duration\': time: invalid duration "%s"' % a[0])
    if name == "matches" and len(a) == 2:
        return _method("matches", a[0], [a[1]])
    if name == "isQuantity" and len(a) == 1:
        try:
            parse_quantity(a[0])
            return True
        except CelError:
            return False
    if name == "quantity" and len(a) == 1:
        return Quantity(parse_quantity(a[0]))
    if name == "dyn" and len(a) == 1:
        return a[0]
    raise CelError("found no matching overload for '%s'" % name)


def _method(name, r, a):
    if name == "size" and not a:
        if isinstance(r, (str, list, dict)):
            return len(r)
        raise CelError("no such overload: size(%s)" % type_of(r))
    if isinstance(r, str):
        if name == "matches" and len(a) == 1:
            return _re(a[0]).search(r) is not None
        if name == "contains" and len(a) == 1:
            return a[0] in r
        if name == "startsWith" and len(a) == 1:
            return r.startswith(a[0])
        if name == "endsWith" and len(a) == 1:
            return r.endswith(a[0])
        if name == "replace" and len(a) in (2, 3):
            if len(a) == 3:
                return r.replace(a[0], a[1], a[2]) if a[2] >= 0 else r.replace(a[0], a[1])
            return r.replace(a[0], a[1])
        if name == "split" and len(a) in (1, 2):
            if len(a) == 2:
                if a[1] == 0:
                    return []
                return r.split(a[0], a[1] - 1) if a[1] > 0 else r.split(a[0])
            return r.split(a[0]) if a[0] else list(r)
        if name == "substring" and len(a) in (1, 2):
            end = a[1] if len(a) == 2 else len(r)
            if a[0] < 0 or end > len(r) or a[0] > end:
                raise CelError("index out of range")
            return r[a[0]:end]
        if name == "indexOf" and len(a) in (1, 2):
            return r.find(a[0], a[1] if len(a) == 2 else 0)
        if name == "lastIndexOf" and len(a) == 1:
            return r.rfind(a[0])
        if name == "lowerAscii" and not a:
            return "".join(c.lower() if c.isascii() else c for c in r)
        if name == "upperAscii" and not a:
            return "".join(c.upper() if c.isascii() else c for c in r)
        if name == "trim" and not a:
            return r.strip()
        if name == "find" and len(a) == 1:
            m = _re(a[0]).search(r)
            return m.group(0) if m else ""
        if name == "findAll" and len(a) in (1, 2):
            out = [m.group(0) for m in _re(a[0]).finditer(r)]
            if len(a) == 2 and a[1] >= 0:
                out = out[:a[1]]
            return out
        if name == "charAt" and len(a) == 1:
            if a[0] < 0 or a[0] > len(r):
                raise CelError("index out of range")
            return r[a[0]:a[0] + 1]
    if isinstance(r, list):
        if name == "sum" and not a:
            if not r:
                return 0
            if isinstance(r[0], Duration):
                return Duration(sum(x.ns for x in r))
            tot = r[0]
            for x in r[1:]:
                tot = _arith("+", tot, x)
            return tot
        if name in ("min", "max") and not a:
            if not r:
                raise CelError("%s called on empty list" % name)
            best = r[0]
            for x in r[1:]:
                if (_cmp("<", x, best) if name == "min" else _cmp(">", x, best)):
                    best = x
            return best
        if name == "isSorted" and not a:
            return all(_cmp("<=", r[i], r[i + 1]) for i in range(len(r) - 1))
        if name == "indexOf" and len(a) == 1:
            for i, x in enumerate(r):
                if _eq(x, a[0]):
                    return i
            return -1
        if name == "join" and len(a) <= 1:
            return (a[0] if a else "").join(r)
    if isinstance(r, Duration) and not a:
        sec = 10**9
        conv = {"getHours": 3600 * sec, "getMinutes": 60 * sec, "getSeconds": sec,
                "getMilliseconds": 10**6}
        if name in conv:
            q = abs(r.ns) // conv[name]
            return -q if r.ns < 0 else q
    if isinstance(r, Quantity):
        v = r.value
        if name == "isInteger" and not a:
            return v.denominator == 1 and INT64_MIN <= v <= INT64_MAX
        if name == "asInteger" and not a:
            if v.denominator != 1 or not INT64_MIN <= v <= INT64_MAX:
                raise CelError("cannot convert value to integer")
            return int(v)
        if name == "asApproximateFloat" and not a:
            return float(v)
        if name == "sign" and not a:
            return (v > 0) - (v < 0)
        if len(a) == 1 and isinstance(a[0], Quantity):
            o = a[0].value
            if name == "compareTo":
                return (v > o) - (v < o)
            if name == "isLessThan":
                return v < o
            if name == "isGreaterThan":
                return v > o
            if name == "add":
                return Quantity(v + o)
            if name == "sub":
                return Quantity(v - o)
        if len(a) == 1 and isinstance(a[0], int) and name in ("add", "sub"):
            return Quantity(v + a[0] if name == "add" else v - a[0])
    raise CelError("found no matching overload for '%s' applied to '%s'" % (name, type_of(r)))
