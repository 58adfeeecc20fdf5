# SPDX-License-Identifier: Apache-2.0
"""Structural OpenAPI v3 schemas as kube-apiserver applies them to custom resources.

Order (as the apiextensions-apiserver decodes a write): unknown fields are pruned (and reported
for fieldValidation Strict/Warn), non-nullable nulls without a default are dropped, defaults are
applied, then the object is validated: types, nullable, enum, pattern, minimum/maximum
(exclusive too), minLength/maxLength, minItems/maxItems, required, x-kubernetes-int-or-string,
x-kubernetes-list-type set/map uniqueness, formats date-time/date/int32/int64, and the
x-kubernetes-validations CEL rules (with message, messageExpression is not evaluated, fieldPath
and reason). Errors carry the field path and the message text of the real server.
"""

import copy
import json
import re
from datetime import datetime

from . import cel

# Kubernetes field error types: (reason, message head).
INVALID = ("FieldValueInvalid", "Invalid value")
REQUIRED = ("FieldValueRequired", "Required value")
NOT_SUPPORTED = ("FieldValueNotSupported", "Unsupported value")
DUPLICATE = ("FieldValueDuplicate", "Duplicate value")
TOO_LONG = ("FieldValueTooLong", "Too long")
TOO_MANY = ("FieldValueTooMany", "Too many")
FORBIDDEN = ("FieldValueForbidden", "Forbidden")

_OMIT = object()


def go_value(v):
    """Format a value the way field.Error does (%q for strings, %d, %v...)."""
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v))
    if isinstance(v, dict):
        return "map[string]interface {}{%s}" % ", ".join(
            "%s:%s" % (json.dumps(k), go_value(x)) for k, x in sorted(v.items()))
    if isinstance(v, list):
        return "[]interface {}{%s}" % ", ".join(go_value(x) for x in v)
    return str(v)


class FieldError:
    def __init__(self, kind, field, value=_OMIT, detail=""):
        self.reason, self.head = kind
        self.field = field
        self.value = value
        self.detail = detail

    def body(self):
        """The error without the field path: 'Invalid value: "x": detail'."""
        if self.reason in (REQUIRED[0], FORBIDDEN[0]) or self.value is _OMIT:
            s = self.head
        elif self.reason == TOO_LONG[0]:
            s = self.head
        else:
            s = "%s: %s" % (self.head, go_value(self.value))
        if self.detail:
            s += ": " + self.detail
        return s

    def __str__(self):
        return "%s: %s" % (self.field, self.body()) if self.field else self.body()

    def cause(self):
        return {"reason": self.reason, "message": self.body(), "field": self.field}


def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _is_int(v):
    return (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer())


def _matches_type(v, t):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return _is_int(v)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return True


def _preserves(s):
    return bool(s.get("x-kubernetes-preserve-unknown-fields"))


def _child(s, key):
    """The schema of object property 'key', or None when unknown."""
    props = s.get("properties")
    if props is not None and key in props:
        return props[key]
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        return ap
    if ap is True:
        return {}
    return None


# ---------------------------------------------------------------------------------------------
# Pruning, nulls and defaults

OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields"}


def prune(obj, s, path, unknown, root=True):
    """Remove fields the schema does not declare; record their paths in 'unknown'."""
    if isinstance(obj, dict):
        if root:
            for k in list(obj):
                if k in ("apiVersion", "kind"):
                    continue
                if k == "metadata":
                    md = obj[k]
                    if isinstance(md, dict):
                        for mk in list(md):
                            if mk not in OBJECT_META_FIELDS:
                                unknown.append("metadata." + mk)
                                del md[mk]
                    continue
                cs = _child(s, k)
                if cs is None and not _preserves(s):
                    unknown.append(k)
                    del obj[k]
                elif cs is not None:
                    prune(obj[k], cs, k, unknown, False)
            return
        if s.get("x-kubernetes-embedded-resource"):
            pass
        for k in list(obj):
            cs = _child(s, k)
            p = "%s.%s" % (path, k) if path else k
            if cs is None:
                if not _preserves(s):
                    unknown.append(p)
                    del obj[k]
            else:
                prune(obj[k], cs, p, unknown, False)
    elif isinstance(obj, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(obj):
                prune(x, items, "%s[%d]" % (path, i), unknown, False)


def drop_nulls(obj, s):
    """PruneNonNullableNullsWithoutDefaults."""
    if isinstance(obj, dict):
        for k in list(obj):
            cs = _child(s, k)
            if cs is None:
                continue
            if obj[k] is None and not cs.get("nullable") and "default" not in cs:
                del obj[k]
            else:
                drop_nulls(obj[k], cs)
    elif isinstance(obj, list):
        items = s.get("items")
        if isinstance(items, dict):
            for x in obj:
                drop_nulls(x, items)


def apply_defaults(obj, s):
    """structuraldefaulting.Default: set absent (or non-nullable null) fields, then recurse."""
    if isinstance(obj, dict):
        for k, cs in (s.get("properties") or {}).items():
            if "default" not in cs:
                continue
            if k not in obj or (obj[k] is None and not cs.get("nullable")):
                obj[k] = copy.deepcopy(cs["default"])
        for k, v in obj.items():
            cs = _child(s, k)
            if cs is not None:
                apply_defaults(v, cs)
    elif isinstance(obj, list):
        items = s.get("items")
        if isinstance(items, dict):
            for x in obj:
                apply_defaults(x, items)


# ---------------------------------------------------------------------------------------------
# Validation

_DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$")


def _valid_format(fmt, v):
    if fmt == "date-time" and isinstance(v, str):
        if not _DATE_TIME.match(v):
            return False
        try:
            datetime.strptime(v[:19].replace("t", "T").replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return False
    if fmt == "date" and isinstance(v, str):
        try:
            datetime.strptime(v, "%Y-%m-%d")
        except ValueError:
            return False
    if fmt == "int32" and _is_int(v):
        return -(1 << 31) <= v < (1 << 31)
    return True


def _go_regex(p):
    # Go's RE2 and Python's re agree on the syntax CRD patterns use; \z is Python's \Z.
    return re.compile(p.replace("\\z", "\\Z"))


_re_cache = {}


def _pattern(p):
    r = _re_cache.get(p)
    if r is None:
        r = _go_regex(p)
        _re_cache[p] = r
    return r


def _fmt_num(n):
    if isinstance(n, float) and n.is_integer():
        return str(int(n))
    return str(n)


def validate(obj, s, path, errs, cel_enabled=True):
    """Validate 'obj' against structural schema 's', appending FieldErrors to 'errs'."""
    if obj is None:
        if s.get("nullable"):
            return
        t = "integer,string" if s.get("x-kubernetes-int-or-string") else s.get("type")
        if t:
            errs.append(FieldError(INVALID, path, "null",
                                   "%s in body must be of type %s: \"null\"" % (path, t)))
        return
    if s.get("x-kubernetes-int-or-string"):
        if not (_is_int(obj) or isinstance(obj, str)):
            jt = json_type(obj)
            errs.append(FieldError(INVALID, path, jt,
                                   "%s in body must be of type integer,string: \"%s\"" % (path, jt)))
            return
    else:
        t = s.get("type")
        if t and not _matches_type(obj, t):
            jt = json_type(obj)
            errs.append(FieldError(INVALID, path, jt,
                                   "%s in body must be of type %s: \"%s\"" % (path, t, jt)))
            return
    n_before = len(errs)
    if "enum" in s and not any(_json_eq(obj, e) for e in s["enum"]):
        errs.append(FieldError(NOT_SUPPORTED, path, obj, "supported values: " + ", ".join(
            go_value(e) for e in s["enum"])))
    if isinstance(obj, str):
        if "maxLength" in s and len(obj) > s["maxLength"]:
            errs.append(FieldError(TOO_LONG, path, obj,
                                   "may not be more than %d bytes" % s["maxLength"]))
        if "minLength" in s and len(obj) < s["minLength"]:
            errs.append(FieldError(INVALID, path, obj, "%s in body should be at least %d chars long"
                                   % (path, s["minLength"])))
        if "pattern" in s and not _pattern(s["pattern"]).search(obj):
            errs.append(FieldError(INVALID, path, obj, "%s in body should match '%s'"
                                   % (path, s["pattern"])))
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        if "minimum" in s:
            m = s["minimum"]
            if obj < m or (s.get("exclusiveMinimum") and obj == m):
                errs.append(FieldError(INVALID, path, obj, "%s in body should be greater than %s%s"
                                       % (path, "" if s.get("exclusiveMinimum") else "or equal to ",
                                          _fmt_num(m))))
        if "maximum" in s:
            m = s["maximum"]
            if obj > m or (s.get("exclusiveMaximum") and obj == m):
                errs.append(FieldError(INVALID, path, obj, "%s in body should be less than %s%s"
                                       % (path, "" if s.get("exclusiveMaximum") else "or equal to ",
                                          _fmt_num(m))))
        if "multipleOf" in s and s["multipleOf"] and (obj / s["multipleOf"]) % 1 != 0:
            errs.append(FieldError(INVALID, path, obj, "%s in body should be a multiple of %s"
                                   % (path, _fmt_num(s["multipleOf"]))))
    if "format" in s and not _valid_format(s["format"], obj):
        errs.append(FieldError(INVALID, path, obj, "%s in body must be of type %s: %s"
                               % (path, s["format"], go_value(obj))))
    if isinstance(obj, dict):
        for r in s.get("required") or []:
            if r not in obj:
                errs.append(FieldError(REQUIRED, "%s.%s" % (path, r) if path else r))
        if "maxProperties" in s and len(obj) > s["maxProperties"]:
            errs.append(FieldError(TOO_MANY, path, len(obj), "must have at most %d items"
                                   % s["maxProperties"]))
        for k, v in obj.items():
            cs = _child(s, k)
            if cs is not None:
                validate(v, cs, "%s.%s" % (path, k) if path else k, errs, cel_enabled)
    if isinstance(obj, list):
        if "maxItems" in s and len(obj) > s["maxItems"]:
            errs.append(FieldError(TOO_MANY, path, len(obj), "must have at most %d items"
                                   % s["maxItems"]))
        if "minItems" in s and len(obj) < s["minItems"]:
            errs.append(FieldError(INVALID, path, len(obj), "%s in body should have at least %d items"
                                   % (path, s["minItems"])))
        items = s.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(obj):
                validate(x, items, "%s[%d]" % (path, i), errs, cel_enabled)
        _list_type(obj, s, path, errs)
    if cel_enabled and len(errs) == n_before:
        _cel_rules(obj, s, path, errs)


def _json_eq(a, b):
    if _is_int(a) and _is_int(b):
        return a == b
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                       and not isinstance(a, bool) and not isinstance(b, bool)):
        return False
    return a == b


def _list_type(obj, s, path, errs):
    lt = s.get("x-kubernetes-list-type")
    if lt == "set":
        seen = []
        for i, x in enumerate(obj):
            if any(_json_eq(x, y) for y in seen):
                errs.append(FieldError(DUPLICATE, "%s[%d]" % (path, i), x))
            else:
                seen.append(x)
    elif lt == "map":
        keys = s.get("x-kubernetes-list-map-keys") or []
        seen = set()
        for i, x in enumerate(obj):
            if not isinstance(x, dict):
                continue
            k = json.dumps([x.get(key) for key in keys], sort_keys=True)
            if k in seen:
                errs.append(FieldError(DUPLICATE, "%s[%d]" % (path, i),
                                       {key: x.get(key) for key in keys if key in x}))
            seen.add(k)


def _cel_value(obj):
    """JSON value -> CEL value (integral JSON numbers of integer fields stay ints)."""
    return obj


def _cel_rules(obj, s, path, errs):
    for rule in s.get("x-kubernetes-validations") or []:
        expr = rule.get("rule", "")
        if "oldSelf" in expr:
            continue  # transition rules: not evaluated on create; ratcheting not emulated
        field = path
        fp = rule.get("fieldPath")
        if fp:
            field = path + fp if fp.startswith(".") or fp.startswith("[") else path + "." + fp
        try:
            ok = cel.evaluate(expr, {"self": _cel_value(obj)})
        except cel.CelError as e:
            errs.append(FieldError(INVALID, field, json_type(obj),
                                   "%s: %s" % (expr if not rule.get("message") else
                                               rule["message"], e)))
            continue
        if ok is not True:
            msg = rule.get("message") or "failed rule: %s" % _rule_text(expr)
            kind = INVALID
            reason = rule.get("reason")
            if reason == "FieldValueForbidden":
                kind = FORBIDDEN
            elif reason == "FieldValueRequired":
                kind = REQUIRED
            elif reason == "FieldValueDuplicate":
                kind = DUPLICATE
            errs.append(FieldError(kind, field, json_type(obj) if kind in (INVALID, DUPLICATE)
                                   else _OMIT, msg))


def _rule_text(expr):
    return " ".join(expr.split())


# ---------------------------------------------------------------------------------------------
# CRD checks (a subset of apiextensions' structural schema validation)

_ALLOWED_KEYS = {
    "type", "format", "description", "title", "default", "nullable", "properties",
    "additionalProperties", "items", "required", "enum", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems",
    "minProperties", "maxProperties", "multipleOf", "uniqueItems", "allOf", "anyOf", "oneOf",
    "not", "example", "externalDocs",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations"}


def check_structural(s, path, errs, root=True):
    """Report violations of the structural-schema rules for a CRD version schema."""
    if not isinstance(s, dict):
        errs.append(FieldError(INVALID, path, json_type(s), "must be an object"))
        return
    for k in s:
        if k not in _ALLOWED_KEYS:
            errs.append(FieldError(FORBIDDEN, path + "." + k, _OMIT, "unknown schema keyword"))
    t = s.get("type")
    ios = s.get("x-kubernetes-int-or-string")
    pres = s.get("x-kubernetes-preserve-unknown-fields")
    if not t and not ios and not pres:
        errs.append(FieldError(REQUIRED, path + ".type", _OMIT, "must not be empty for specified "
                               "object fields"))
    if ios and t:
        errs.append(FieldError(FORBIDDEN, path + ".type", _OMIT,
                               "must be empty if x-kubernetes-int-or-string is true"))
    if s.get("uniqueItems"):
        errs.append(FieldError(FORBIDDEN, path + ".uniqueItems", _OMIT,
                               "uniqueItems cannot be set to true since the runtime complexity "
                               "becomes quadratic"))
    if t == "array" and not isinstance(s.get("items"), dict):
        errs.append(FieldError(REQUIRED, path + ".items", _OMIT, "must be specified"))
    if "properties" in s and "additionalProperties" in s:
        errs.append(FieldError(FORBIDDEN, path + ".additionalProperties", _OMIT,
                               "additionalProperties and properties are mutual exclusive"))
    if root and "default" in s:
        errs.append(FieldError(FORBIDDEN, path + ".default", _OMIT,
                               "must not be set at the root"))
    for k, cs in (s.get("properties") or {}).items():
        p = "%s.properties[%s]" % (path, k)
        if root and k == "metadata":
            extra = set(cs) - {"type", "properties"}
            if extra or set((cs.get("properties") or {})) - {"name", "generateName"}:
                errs.append(FieldError(FORBIDDEN, p, _OMIT,
                                       "must not specify anything other than name and "
                                       "generateName, but metadata is implicitly specified"))
            continue
        check_structural(cs, p, errs, root=False)
    if isinstance(s.get("items"), dict):
        check_structural(s["items"], path + ".items", errs, root=False)
    if isinstance(s.get("additionalProperties"), dict):
        check_structural(s["additionalProperties"], path + ".additionalProperties", errs, False)
    for i, rule in enumerate(s.get("x-kubernetes-validations") or []):
        try:
            cel.compile_expr(rule.get("rule", ""))
        except cel.CelError as e:
            errs.append(FieldError(INVALID, "%s.x-kubernetes-validations[%d].rule" % (path, i),
                                   rule.get("rule"), "compilation failed: %s" % e))
    if "default" in s and not root:
        d = copy.deepcopy(s["default"])
        unknown = []
        prune(d, s, "", unknown, root=False)
        derrs = []
        apply_defaults(d, s)
        validate(d, s, path + ".default", derrs)
        if unknown:
            errs.append(FieldError(INVALID, path + ".default", s["default"],
                                   "must not have unknown fields: " + ", ".join(unknown)))
        errs.extend(derrs)
