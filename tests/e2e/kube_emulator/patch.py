# SPDX-License-Identifier: Apache-2.0
"""Patch formats kube-apiserver accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
strategic merge patch (for built-in kinds, with their merge keys and the $patch,
$setElementOrder, $deleteFromPrimitiveList and $retainKeys directives kubectl emits) and a
simplified server-side apply (no managedFields: fields are merged, never removed)."""

import copy


class PatchError(Exception):
    pass


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    else:
        target = dict(target)
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _pointer(doc, path):
    if path == "":
        return None, None
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path)
    toks = [_unescape(t) for t in path[1:].split("/")]
    parent = doc
    for t in toks[:-1]:
        parent = _get(parent, t, path)
    return parent, toks[-1]


def _get(node, tok, path):
    if isinstance(node, dict):
        if tok not in node:
            raise PatchError("doc is missing path: \"%s\": missing value" % path)
        return node[tok]
    if isinstance(node, list):
        try:
            i = int(tok)
        except ValueError:
            raise PatchError("invalid index %r in %s" % (tok, path))
        if i < 0 or i >= len(node):
            raise PatchError("Unable to access invalid index: %d" % i)
        return node[i]
    raise PatchError("doc is missing path: \"%s\": missing value" % path)


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("invalid operation %r" % (op,))
        kind = op["op"]
        path = op.get("path")
        if path is None:
            raise PatchError("operation missing path")
        if kind in ("move", "copy"):
            frm_parent, frm_key = _pointer(doc, op.get("from", ""))
            value = copy.deepcopy(_get(frm_parent, frm_key, op.get("from")))
            if kind == "move":
                _remove(frm_parent, frm_key, op.get("from"))
            doc = _add(doc, path, value)
        elif kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            parent, key = _pointer(doc, path)
            _remove(parent, key, path)
        elif kind == "replace":
            if path == "":
                doc = copy.deepcopy(op.get("value"))
                continue
            parent, key = _pointer(doc, path)
            _get(parent, key, path)
            if isinstance(parent, list):
                parent[int(key)] = copy.deepcopy(op.get("value"))
            else:
                parent[key] = copy.deepcopy(op.get("value"))
        elif kind == "test":
            if path == "":
                cur = doc
            else:
                parent, key = _pointer(doc, path)
                cur = _get(parent, key, path)
            if cur != op.get("value"):
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


def _add(doc, path, value):
    if path == "":
        return value
    parent, key = _pointer(doc, path)
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        if key == "-":
            parent.append(value)
        else:
            i = int(key)
            if i < 0 or i > len(parent):
                raise PatchError("Unable to access invalid index: %d" % i)
            parent.insert(i, value)
    else:
        raise PatchError("doc is missing path: \"%s\": missing value" % path)
    return doc


def _remove(parent, key, path):
    if isinstance(parent, dict):
        if key not in parent:
            raise PatchError("Unable to remove nonexistent key: %s: missing value" % key)
        del parent[key]
    elif isinstance(parent, list):
        i = int(key)
        if i < 0 or i >= len(parent):
            raise PatchError("Unable to access invalid index: %d" % i)
        del parent[i]
    else:
        raise PatchError("doc is missing path: \"%s\"" % path)


# Merge keys of the built-in kinds the emulator serves (from the Go struct tags), by field name.
SMP_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "imagePullSecrets": "name", "conditions": "type",
    "ownerReferences": "uid", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name", "readinessGates": None, "schedulingGates": "name",
    "containerStatuses": "name", "initContainerStatuses": "name", "podIPs": "ip",
}
SMP_SET_LISTS = {"finalizers"}


def strategic_merge(target, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    if patch.get("$patch") == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return copy.deepcopy(p)
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            cur = out.get(name)
            if isinstance(cur, list) and isinstance(v, list):
                out[name] = [x for x in cur if x not in v]
            continue
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(v, list):
            out[k] = _merge_list(cur, v, k)
            order = patch.get("$setElementOrder/" + k)
            if isinstance(order, list):
                out[k] = _reorder(out[k], order, SMP_MERGE_KEYS.get(k))
        elif isinstance(v, dict):
            merged = strategic_merge(cur, v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(cur, patch, field):
    key = SMP_MERGE_KEYS.get(field)
    if field in SMP_SET_LISTS:
        base = list(cur) if isinstance(cur, list) else []
        for x in patch:
            if x not in base:
                base.append(x)
        return base
    if not key:
        if patch and isinstance(patch[0], dict) and patch[0].get("$patch") == "replace":
            return copy.deepcopy(patch[1:])
        return copy.deepcopy(patch)
    base = copy.deepcopy(cur) if isinstance(cur, list) else []
    for item in patch:
        if not isinstance(item, dict):
            continue
        if item.get("$patch") == "replace":
            return [copy.deepcopy(x) for x in patch if x is not item]
        idx = next((i for i, x in enumerate(base)
                    if isinstance(x, dict) and x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del base[idx]
            continue
        if idx is None:
            base.append(strategic_merge({}, item, field))
        else:
            base[idx] = strategic_merge(base[idx], item, field)
    return base


def _reorder(items, order, key):
    if not key:
        return items
    pos = {}
    for i, o in enumerate(order):
        if isinstance(o, dict):
            pos[json_key(o.get(key))] = i
    return sorted(items, key=lambda x: pos.get(json_key(x.get(key)) if isinstance(x, dict)
                                               else None, len(order)))


def json_key(v):
    return repr(v)


def apply_merge(target, applied, schema=None):
    """Server-side apply without field ownership: merge 'applied' into 'target', lists by the
    schema's x-kubernetes-list-type (map: by keys, set: union, else the applied list wins)."""
    if not isinstance(applied, dict) or not isinstance(target, dict):
        return copy.deepcopy(applied)
    out = copy.deepcopy(target)
    props = (schema or {}).get("properties") or {}
    for k, v in applied.items():
        cs = props.get(k)
        if isinstance(v, dict):
            out[k] = apply_merge(out.get(k), v, cs)
        elif isinstance(v, list) and isinstance(out.get(k), list) and cs:
            lt = cs.get("x-kubernetes-list-type")
            if lt == "map":
                keys = cs.get("x-kubernetes-list-map-keys") or []
                base = copy.deepcopy(out[k])
                for item in v:
                    idx = next((i for i, x in enumerate(base) if isinstance(x, dict) and
                                all(x.get(kk) == item.get(kk) for kk in keys)), None)
                    if idx is None:
                        base.append(copy.deepcopy(item))
                    else:
                        base[idx] = apply_merge(base[idx], item, cs.get("items"))
                out[k] = base
            elif lt == "set":
                base = list(out[k])
                for x in v:
                    if x not in base:
                        base.append(x)
                out[k] = base
            else:
                out[k] = copy.deepcopy(v)
        else:
            out[k] = copy.deepcopy(v)
    return out
