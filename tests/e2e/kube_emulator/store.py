# SPDX-License-Identifier: Apache-2.0
"""Object storage with one global, monotonically increasing resourceVersion (like etcd's
revision), an event history for watches and exact-resourceVersion lists, and compaction."""

import bisect
import copy
import re
import threading


class Expired(Exception):
    pass


class Store:
    def __init__(self, first_rv=1000, history=100000):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = first_rv
        self.objects = {}  # storage key -> {(namespace, name): obj}
        self.log = []  # (rv, storage key, type, obj, prev)
        self.log_rvs = []
        self.floor = first_rv  # every event with rv > floor is in the log
        self.compacted = 0  # forced compaction point
        self.history = history

    def compaction_point(self):
        return max(self.floor, self.compacted)

    def bucket(self, skey):
        return self.objects.setdefault(skey, {})

    def get(self, skey, ns, name):
        return self.bucket(skey).get((ns or "", name))

    def items(self, skey, ns=None):
        b = self.bucket(skey)
        keys = sorted(k for k in b if ns is None or k[0] == ns)
        return [b[k] for k in keys]

    def write(self, skey, obj, etype, prev=None):
        """Store (ADDED/MODIFIED) or remove (DELETED) 'obj'; stamp and return its new rv."""
        with self.lock:
            self.rv += 1
            rv = self.rv
            md = obj["metadata"]
            md["resourceVersion"] = str(rv)
            key = (md.get("namespace") or "", md["name"])
            if etype == "DELETED":
                self.bucket(skey).pop(key, None)
            else:
                self.bucket(skey)[key] = obj
            self.log.append((rv, skey, etype, copy.deepcopy(obj),
                             copy.deepcopy(prev) if prev is not None else None))
            self.log_rvs.append(rv)
            if len(self.log) > self.history:
                drop = len(self.log) - self.history
                self.floor = self.log_rvs[drop - 1]
                del self.log[:drop]
                del self.log_rvs[:drop]
            self.cond.notify_all()
            return rv

    def events_after(self, rv):
        """Events with resourceVersion > rv (caller holds the lock)."""
        if rv < self.compaction_point():
            raise Expired()
        i = bisect.bisect_right(self.log_rvs, rv)
        return self.log[i:]

    def snapshot(self, skey, rv):
        """{(ns, name): obj} of one storage key as of resourceVersion rv."""
        with self.lock:
            if rv < self.compaction_point():
                raise Expired()
            cur = {k: v for k, v in self.bucket(skey).items()}
            if rv >= self.rv:
                return cur
            i = bisect.bisect_right(self.log_rvs, rv)
            for erv, ekey, etype, obj, prev in reversed(self.log[i:]):
                if ekey != skey:
                    continue
                k = (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
                if etype == "ADDED":
                    cur.pop(k, None)
                else:
                    cur[k] = prev if etype == "MODIFIED" else obj
            return cur

    def compact(self, rv=None):
        with self.lock:
            self.compacted = self.rv if rv is None else rv
            return self.compacted


# ---------------------------------------------------------------------------------------------
# Selectors


class SelectorError(Exception):
    pass


_LS_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|[A-Za-z0-9][-A-Za-z0-9_./]*|[^\s]+)")


def parse_label_selector(s):
    """labels.Parse: a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a. Returns requirements."""
    if not s or not s.strip():
        return []
    toks = []
    pos = 0
    while pos < len(s):
        m = _LS_TOKEN.match(s, pos)
        if not m:
            break
        toks.append(m.group(1))
        pos = m.end()
        if s[pos:].strip() == "":
            break
    reqs = []
    i = 0

    def need(cond, msg):
        if not cond:
            raise SelectorError("unable to parse requirement: %s" % msg)

    while i < len(toks):
        if toks[i] == "!":
            need(i + 1 < len(toks), "found '', expected: identifier")
            reqs.append((toks[i + 1], "!", None))
            i += 2
        else:
            key = toks[i]
            need(re.match(r"^[A-Za-z0-9]", key), "found '%s', expected: !, identifier, or "
                 "'end of string'" % key)
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append((key, "exists", None))
            elif toks[i] in ("=", "==", "!="):
                op = "!=" if toks[i] == "!=" else "="
                i += 1
                val = ""
                if i < len(toks) and toks[i] not in (",",):
                    val = toks[i]
                    i += 1
                reqs.append((key, op, val))
            elif toks[i] in ("in", "notin"):
                op = toks[i]
                i += 1
                need(i < len(toks) and toks[i] == "(", "found '%s', expected: '('" % (
                    toks[i] if i < len(toks) else ""))
                i += 1
                vals = []
                while i < len(toks) and toks[i] != ")":
                    if toks[i] != ",":
                        vals.append(toks[i])
                    i += 1
                need(i < len(toks), "found '', expected: ')'")
                i += 1
                reqs.append((key, op, vals))
            else:
                raise SelectorError("unable to parse requirement: found '%s', expected: in, "
                                    "notin, =, ==, !=, gt, lt" % toks[i])
        if i < len(toks):
            need(toks[i] == ",", "found '%s', expected: ','" % toks[i])
            i += 1
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, val in reqs:
        if op == "exists":
            if key not in labels:
                return False
        elif op == "!":
            if key in labels:
                return False
        elif op == "=":
            if labels.get(key) != val:
                return False
        elif op == "!=":
            if labels.get(key) == val:
                return False
        elif op == "in":
            if labels.get(key) not in val:
                return False
        elif op == "notin":
            if key in labels and labels[key] in val:
                return False
    return True


def parse_field_selector(s, supported):
    if not s or not s.strip():
        return []
    out = []
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not m:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (s, part))
        key, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if key not in supported:
            raise SelectorError("field label not supported: %s" % key)
        out.append((key, "!=" if op == "!=" else "=", val))
    return out
