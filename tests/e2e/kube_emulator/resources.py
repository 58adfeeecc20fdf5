# SPDX-License-Identifier: Apache-2.0
"""Resource types: the built-ins the emulator serves and types derived from CRDs, with their
discovery facts, field selectors, Table columns and validation."""

import re
from datetime import datetime, timezone

from . import schema as sch
from .schema import FieldError, INVALID, REQUIRED, FORBIDDEN

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
             "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    if not isinstance(s, str) or not s:
        return None
    try:
        s2 = s.replace("Z", "+00:00").replace("z", "+00:00")
        return datetime.fromisoformat(s2)
    except ValueError:
        return None


def human_duration(seconds):
    """duration.HumanDuration as kubectl and the Table convertor print ages."""
    s = int(seconds)
    if s < 0:
        s = 0
    if s < 60 * 2:
        return "%ds" % s
    m = s // 60
    if m < 10:
        rem = s % 60
        return "%dm%ds" % (m, rem) if rem else "%dm" % m
    if m < 60 * 3:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        rem = m % 60
        return "%dh%dm" % (h, rem) if rem else "%dh" % h
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        rem = h % 24
        return "%dd%dh" % (h // 24, rem) if rem else "%dd" % (h // 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return "%dy%dd" % (h // 24 // 365, dy) if dy else "%dy" % (h // 24 // 365)
    return "%dy" % (h // 24 // 365)


def age(ts):
    t = parse_time(ts)
    if not t:
        return "<unknown>"
    return human_duration((datetime.now(timezone.utc) - t).total_seconds())


class ResourceType:
    def __init__(self, group, version, plural, kind, namespaced, singular=None, short_names=(),
                 categories=(), verbs=None, status=False, generation=False, schema=None,
                 printer_columns=None, unconditional_update=True, create_on_update=False,
                 smp=True, storage=None, field_labels=(), table=None, crd_name=None,
                 validate=None):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.list_kind = kind + "List"
        self.namespaced = namespaced
        self.singular = singular or kind.lower()
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.verbs = list(verbs or ALL_VERBS)
        self.status = status
        self.generation = generation
        self.schema = schema
        self.printer_columns = printer_columns
        self.unconditional_update = unconditional_update
        self.create_on_update = create_on_update
        self.smp = smp
        self.storage = storage or (group, plural)
        self.field_labels = set(field_labels) | {"metadata.name", "metadata.namespace"}
        self.table = table
        self.crd_name = crd_name
        self.validate_fn = validate

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def gv_path(self):
        return "/apis/%s/%s" % (self.group, self.version) if self.group else "/api/v1"

    @property
    def qualified(self):
        """'retentionpolicies.kagent.dev' or 'pods' as errors name resources."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def builtin(self):
        return self.crd_name is None

    def to_storage(self, obj):
        return obj

    def from_storage(self, obj):
        return obj


# ---------------------------------------------------------------------------------------------
# Field selectors

def _get_path(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def field_value(rt, obj, label):
    """The value of a field label as the real server computes it ("" when unset)."""
    if rt.storage == ("", "events"):
        core = obj
        if label.startswith("regarding."):
            label = "involvedObject." + label.split(".", 1)[1]
        if label == "source":
            return (core.get("source") or {}).get("component", "") or core.get(
                "reportingComponent", "")
        if label == "reportingComponent":
            return core.get("reportingComponent", "")
    if label == "spec.hostNetwork":
        return "true" if _get_path(obj, label) else "false"
    v = _get_path(obj, label)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---------------------------------------------------------------------------------------------
# Tables

NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
               "description": "Name must be unique within a namespace. Is required when creating "
               "resources, although some resources may allow a client to request the generation "
               "of an appropriate name automatically. Name is primarily intended for creation "
               "idempotence and configuration definition. Cannot be updated. More info: "
               "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"}
AGE_DESC = ("CreationTimestamp is a timestamp representing the server time when this object was "
            "created.")


def _col(name, typ="string", desc="", fmt="", priority=0):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


def default_table(obj):
    return [_col("Name", "string", NAME_COLUMN["description"], "name"),
            _col("Created At", "date", AGE_DESC)], [
        obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")]


def pod_row(p):
    spec = p.get("spec") or {}
    st = p.get("status") or {}
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    reason = st.get("reason") or st.get("phase") or "Pending"
    if p["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [p["metadata"]["name"], "%d/%d" % (ready, len(spec.get("containers") or [])), reason,
            restarts, age(p["metadata"].get("creationTimestamp")), st.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", "<none>", "<none>"]


POD_COLUMNS = [NAME_COLUMN, _col("Ready", desc="The aggregate readiness state of this pod for "
                                 "accepting traffic."),
               _col("Status", desc="The aggregate status of the containers in this pod."),
               _col("Restarts", desc="The number of times the containers in this pod have been "
                    "restarted and when the last container in this pod has restarted."),
               _col("Age", desc=AGE_DESC),
               _col("IP", desc="IP address allocated to the pod.", priority=1),
               _col("Node", desc="Name of the Node this pod is bound to.", priority=1),
               _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)]


def pod_table(p):
    return POD_COLUMNS, pod_row(p)


NS_COLUMNS = [NAME_COLUMN, _col("Status", desc="The status of the namespace"),
              _col("Age", desc=AGE_DESC)]


def ns_table(n):
    return NS_COLUMNS, [n["metadata"]["name"], (n.get("status") or {}).get("phase", "Active"),
                        age(n["metadata"].get("creationTimestamp"))]


LEASE_COLUMNS = [NAME_COLUMN, _col("Holder", desc="HolderIdentity contains the identity of the "
                                   "holder of a current lease."), _col("Age", desc=AGE_DESC)]


def lease_table(lease):
    return LEASE_COLUMNS, [lease["metadata"]["name"],
                           (lease.get("spec") or {}).get("holderIdentity") or "",
                           age(lease["metadata"].get("creationTimestamp"))]


EVENT_COLUMNS = [_col("Last Seen", desc="Time when this Event was last seen"),
                 _col("Type", desc="Type of this event (Normal, Warning), new types could be "
                      "added in the future."),
                 _col("Reason", desc="Reason is why the action was taken. It is human-readable. "
                      "This field can have at most 128 characters."),
                 _col("Object", desc="The object this Event is about. In most cases this is the "
                      "object that the Event's reason is about."),
                 _col("Subobject", priority=1), _col("Source", priority=1),
                 _col("Message", desc="A human-readable description of the status of this "
                      "operation."),
                 _col("First Seen", priority=1), _col("Count", priority=1),
                 _col("Name", priority=1)]


def event_table(e):
    # rows from the core v1 form
    inv = e.get("involvedObject") or {}
    last = e.get("lastTimestamp") or (e.get("series") or {}).get("lastObservedTime") or \
        e.get("eventTime") or e["metadata"].get("creationTimestamp")
    obj = "%s/%s" % (inv.get("kind", "").lower(), inv.get("name", ""))
    src = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
    count = e.get("count") or (e.get("series") or {}).get("count") or 1
    return EVENT_COLUMNS, [age(last), e.get("type", ""), e.get("reason", ""), obj,
                           inv.get("fieldPath", ""), src, e.get("message", ""),
                           age(e.get("firstTimestamp") or last), count, e["metadata"]["name"]]


CRD_COLUMNS = [NAME_COLUMN, _col("Created At", "date", AGE_DESC)]


def crd_table(c):
    return CRD_COLUMNS, [c["metadata"]["name"], c["metadata"].get("creationTimestamp")]


# ---------------------------------------------------------------------------------------------
# JSONPath (the subset printer columns use)

_JP_TOKEN = re.compile(r"\.([A-Za-z0-9_$-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*(==|!=)\s*"
                       r"(\"[^\"]*\"|'[^']*'|[0-9.]+|true|false)\)\]|\.\*")


def jsonpath(obj, path):
    """All results of a simple JSONPath such as .status.conditions[?(@.type=="Ready")].status."""
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    nodes = [obj]
    pos = 0
    while pos < len(path):
        m = _JP_TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        out = []
        for n in nodes:
            if m.group(1) is not None:
                if isinstance(n, dict) and m.group(1) in n:
                    out.append(n[m.group(1)])
            elif m.group(2) is not None:
                if isinstance(n, list):
                    if m.group(2) == "*":
                        out.extend(n)
                    elif int(m.group(2)) < len(n):
                        out.append(n[int(m.group(2))])
            elif m.group(3) is not None:
                lit = m.group(5)
                if lit[0] in "\"'":
                    want = lit[1:-1]
                elif lit in ("true", "false"):
                    want = lit == "true"
                else:
                    want = float(lit) if "." in lit else int(lit)
                if isinstance(n, list):
                    for x in n:
                        v = _get_path(x, m.group(3)) if isinstance(x, dict) else None
                        if (v == want) == (m.group(4) == "=="):
                            out.append(x)
            else:
                if isinstance(n, dict):
                    out.extend(n.values())
                elif isinstance(n, list):
                    out.extend(n)
        nodes = out
    return nodes


def crd_cell(col, obj):
    res = jsonpath(obj, col["jsonPath"])
    if not res:
        return None
    v = res[0]
    t = col.get("type")
    if t == "date":
        return age(v) if isinstance(v, str) and parse_time(v) else None
    if t == "string":
        if isinstance(v, (dict, list)):
            import json
            return json.dumps(v, separators=(",", ":"))
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    if t == "integer":
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float)):
            return int(v)
        return None
    if t == "number":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return v
        return None
    if t == "boolean":
        return v if isinstance(v, bool) else None
    return v


# ---------------------------------------------------------------------------------------------
# Built-in validation

def validate_meta(rt, obj, errs, create):
    md = obj.get("metadata") or {}
    name = md.get("name", "")
    if not name:
        if create:
            errs.append(FieldError(REQUIRED, "metadata.name", detail="name or generateName is "
                                   "required"))
        return
    if rt.plural == "namespaces":
        if not DNS1123_LABEL.match(name) or len(name) > 63:
            errs.append(FieldError(INVALID, "metadata.name", name, LABEL_MSG))
    elif rt.plural not in ("events",) and (not DNS1123_SUBDOMAIN.match(name) or len(name) > 253):
        errs.append(FieldError(INVALID, "metadata.name", name, SUBDOMAIN_MSG))
    for where in ("labels", "annotations"):
        vals = md.get(where)
        if vals is None:
            continue
        if not isinstance(vals, dict):
            errs.append(FieldError(INVALID, "metadata." + where, sch.json_type(vals),
                                   "must be a map"))
            continue
        for k, v in vals.items():
            key_name = k.split("/", 1)[-1]
            if not QUALIFIED_NAME.match(key_name) or len(key_name) > 63:
                errs.append(FieldError(INVALID, "metadata.%s" % where, k,
                                       "name part must consist of alphanumeric characters, '-', "
                                       "'_' or '.', and must start and end with an alphanumeric "
                                       "character"))
            if not isinstance(v, str):
                errs.append(FieldError(INVALID, "metadata.%s[%s]" % (where, k), sch.json_type(v),
                                       "must be a string"))
            elif where == "labels" and (len(v) > 63 or not LABEL_VALUE.match(v)):
                errs.append(FieldError(INVALID, "metadata.labels", v,
                                       "a valid label must be an empty string or consist of "
                                       "alphanumeric characters, '-', '_' or '.', and must start "
                                       "and end with an alphanumeric character"))
    fin = md.get("finalizers")
    if fin is not None and not (isinstance(fin, list) and all(isinstance(f, str) for f in fin)):
        errs.append(FieldError(INVALID, "metadata.finalizers", sch.json_type(fin),
                               "must be a list of strings"))


def validate_pod(obj, errs, create, request_gv):
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.append(FieldError(REQUIRED, "spec"))
        return
    cs = spec.get("containers")
    if not cs:
        errs.append(FieldError(REQUIRED, "spec.containers"))
        return
    names = set()
    for i, c in enumerate(cs):
        if not isinstance(c, dict) or not c.get("name"):
            errs.append(FieldError(REQUIRED, "spec.containers[%d].name" % i))
            continue
        if c["name"] in names:
            errs.append(FieldError(sch.DUPLICATE, "spec.containers[%d].name" % i, c["name"]))
        names.add(c["name"])
        if not c.get("image") and create:
            errs.append(FieldError(REQUIRED, "spec.containers[%d].image" % i))


def validate_lease(obj, errs, create, request_gv):
    spec = obj.get("spec") or {}
    d = spec.get("leaseDurationSeconds")
    if d is not None and (not isinstance(d, int) or isinstance(d, bool) or d <= 0):
        errs.append(FieldError(INVALID, "spec.leaseDurationSeconds", d, "must be greater than 0"))
    t = spec.get("leaseTransitions")
    if t is not None and (not isinstance(t, int) or isinstance(t, bool) or t < 0):
        errs.append(FieldError(INVALID, "spec.leaseTransitions", t,
                               "must be greater than or equal to 0"))
    for f in ("acquireTime", "renewTime"):
        v = spec.get(f)
        if v is not None and not parse_time(v):
            errs.append(FieldError(INVALID, "spec." + f, v, "must be a MicroTime "
                                   "(RFC 3339 with microseconds)"))


def validate_event(obj, errs, create, request_gv):
    """obj is the core v1 form; request_gv says which API the client used."""
    ns = obj["metadata"].get("namespace", "")
    inv = obj.get("involvedObject") or {}
    rc_name = "reportingComponent" if request_gv == "v1" else "reportingController"
    if not obj.get("eventTime"):
        if not inv.get("namespace"):
            if ns not in ("", "default"):
                errs.append(FieldError(INVALID, "involvedObject.namespace", inv.get("namespace", ""),
                                       "does not match event.namespace"))
        elif ns != inv.get("namespace"):
            errs.append(FieldError(INVALID, "involvedObject.namespace", inv.get("namespace"),
                                   "does not match event.namespace"))
    else:
        if not inv.get("namespace") and ns not in ("default", "kube-system"):
            errs.append(FieldError(INVALID, "involvedObject.namespace", inv.get("namespace", ""),
                                   "does not match event.namespace"))
        if not obj.get("reportingComponent"):
            errs.append(FieldError(REQUIRED, rc_name))
        if not obj.get("reportingInstance"):
            errs.append(FieldError(REQUIRED, "reportingInstance"))
        for f, lim, label in (("reportingInstance", 128, "reportingInstance"),
                              ("action", 128, "action"), ("reason", 128, "reason"),
                              ("message", 1024, "message" if request_gv == "v1" else "note")):
            if len(obj.get(f) or "") > lim:
                errs.append(FieldError(INVALID, label, "", "can have at most %d characters" % lim))
    if request_gv == "events.k8s.io/v1" and create:
        if not obj.get("eventTime"):
            errs.append(FieldError(REQUIRED, "eventTime"))
        if obj.get("type") not in ("Normal", "Warning"):
            errs.append(FieldError(INVALID, "type", "", "has invalid value: %s" %
                                   obj.get("type", "")))
        if obj.get("firstTimestamp"):
            errs.append(FieldError(INVALID, "deprecatedFirstTimestamp", "", "needs to be unset"))
        if obj.get("lastTimestamp"):
            errs.append(FieldError(INVALID, "deprecatedLastTimestamp", "", "needs to be unset"))
        if obj.get("count"):
            errs.append(FieldError(INVALID, "deprecatedCount", "", "needs to be unset"))
        have = {e.field for e in errs}
        for f, label in (("reportingComponent", "reportingController"),
                         ("reportingInstance", "reportingInstance")):
            if not obj.get(f) and label not in have:
                errs.append(FieldError(REQUIRED, label))
        if not obj.get("action"):
            errs.append(FieldError(REQUIRED, "action"))
        if not obj.get("reason"):
            errs.append(FieldError(REQUIRED, "reason"))
    elif obj.get("type") not in (None, "", "Normal", "Warning"):
        errs.append(FieldError(INVALID, "type", obj.get("type"), "has invalid value"))
    if not inv:
        errs.append(FieldError(REQUIRED, "involvedObject" if request_gv == "v1" else "regarding"))


def validate_crd(obj, errs, create, request_gv):
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    if not group or "." not in group:
        errs.append(FieldError(INVALID, "spec.group", group, "should be a domain with at least "
                               "one dot"))
    for f in ("plural", "kind"):
        if not names.get(f):
            errs.append(FieldError(REQUIRED, "spec.names." + f))
    if names.get("plural") and group and obj["metadata"].get("name") != "%s.%s" % (
            names["plural"], group):
        errs.append(FieldError(INVALID, "metadata.name", obj["metadata"].get("name"),
                               "must be spec.names.plural+\".\"+spec.group"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errs.append(FieldError(sch.NOT_SUPPORTED, "spec.scope", spec.get("scope"),
                               "supported values: \"Cluster\", \"Namespaced\""))
    versions = spec.get("versions") or []
    if not versions:
        errs.append(FieldError(REQUIRED, "spec.versions", detail="must have exactly one version "
                               "marked as storage version"))
    if sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(FieldError(INVALID, "spec.versions", "", "must have exactly one version "
                               "marked as storage version"))
    for i, v in enumerate(versions):
        base = "spec.versions[%d]" % i
        s = (v.get("schema") or {}).get("openAPIV3Schema")
        if s is None:
            errs.append(FieldError(REQUIRED, base + ".schema.openAPIV3Schema",
                                   detail="schemas are required"))
            continue
        sch.check_structural(s, base + ".schema.openAPIV3Schema", errs)
        for j, c in enumerate(v.get("additionalPrinterColumns") or []):
            if c.get("type") not in ("integer", "number", "string", "boolean", "date"):
                errs.append(FieldError(sch.NOT_SUPPORTED, "%s.additionalPrinterColumns[%d].type"
                                       % (base, j), c.get("type"), "supported values: "
                                       "\"boolean\", \"date\", \"integer\", \"number\", "
                                       "\"string\""))
            if not str(c.get("jsonPath", "")).startswith("."):
                errs.append(FieldError(INVALID, "%s.additionalPrinterColumns[%d].jsonPath"
                                       % (base, j), c.get("jsonPath"), "must be a simple json "
                                       "path"))
        sub = v.get("subresources") or {}
        if set(sub) - {"status", "scale"}:
            errs.append(FieldError(FORBIDDEN, base + ".subresources"))


# ---------------------------------------------------------------------------------------------
# Events: one storage (core v1 form), two APIs

_CORE_TO_V1 = [("involvedObject", "regarding"), ("related", "related"), ("message", "note"),
               ("reportingComponent", "reportingController"),
               ("reportingInstance", "reportingInstance"), ("action", "action"),
               ("reason", "reason"), ("type", "type"), ("eventTime", "eventTime"),
               ("series", "series"), ("source", "deprecatedSource"),
               ("firstTimestamp", "deprecatedFirstTimestamp"),
               ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount")]


class EventsV1Type(ResourceType):
    def to_storage(self, obj):
        out = {"apiVersion": "v1", "kind": "Event", "metadata": obj.get("metadata") or {}}
        for core, v1 in _CORE_TO_V1:
            if v1 in obj and obj[v1] is not None:
                out[core] = obj[v1]
        if isinstance(out.get("series"), dict):
            out["series"] = {"count": out["series"].get("count"),
                             "lastObservedTime": out["series"].get("lastObservedTime")}
        return out

    def from_storage(self, obj):
        out = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": obj["metadata"]}
        for core, v1 in _CORE_TO_V1:
            if core in obj and obj[core] not in (None, "", 0, {}):
                out[v1] = obj[core]
        if "eventTime" not in out:
            out["eventTime"] = None
        return out


class CoreEventType(ResourceType):
    def from_storage(self, obj):
        out = dict(obj)
        out["apiVersion"] = "v1"
        out["kind"] = "Event"
        for f in ("reportingComponent", "reportingInstance"):
            out.setdefault(f, "")
        out.setdefault("firstTimestamp", None)
        out.setdefault("lastTimestamp", None)
        out.setdefault("eventTime", None)
        out.setdefault("source", {})
        return out


def builtin_types():
    pods = ResourceType("", "v1", "pods", "Pod", True, short_names=["po"], categories=["all"],
                        status=True, field_labels=[
                            "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                            "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                            "status.podIP", "status.podIPs", "status.nominatedNodeName"],
                        table=pod_table, validate=validate_pod)
    namespaces = ResourceType("", "v1", "namespaces", "Namespace", False, short_names=["ns"],
                              verbs=["create", "delete", "get", "list", "patch", "update",
                                     "watch"], status=True, field_labels=["status.phase"],
                              table=ns_table)
    ev_labels = ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion",
                 "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                 "reportingComponent", "source", "type"]
    events = CoreEventType("", "v1", "events", "Event", True, short_names=["ev"],
                           create_on_update=True, storage=("", "events"),
                           field_labels=ev_labels, table=event_table, validate=validate_event)
    events_v1 = EventsV1Type("events.k8s.io", "v1", "events", "Event", True, short_names=["ev"],
                             create_on_update=True, storage=("", "events"),
                             field_labels=ev_labels + ["regarding.kind", "regarding.namespace",
                                                       "regarding.name", "regarding.uid"],
                             table=event_table, validate=validate_event)
    leases = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True,
                          create_on_update=True, table=lease_table, validate=validate_lease)
    crds = ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                        "CustomResourceDefinition", False, short_names=["crd", "crds"],
                        categories=["api-extensions"], status=True, generation=True,
                        table=crd_table, validate=validate_crd)
    return [pods, namespaces, events, events_v1, leases, crds]


def types_from_crd(crd):
    spec = crd["spec"]
    names = spec["names"]
    out = []
    for v in spec.get("versions") or []:
        if not v.get("served"):
            continue
        s = (v.get("schema") or {}).get("openAPIV3Schema") or {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}
        cols = v.get("additionalPrinterColumns")
        if cols is None:
            cols = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        rt = ResourceType(spec["group"], v["name"], names["plural"], names["kind"],
                          spec.get("scope") == "Namespaced", singular=names.get("singular"),
                          short_names=names.get("shortNames") or [],
                          categories=names.get("categories") or [],
                          status="status" in (v.get("subresources") or {}), generation=True,
                          schema=s, printer_columns=cols, unconditional_update=False,
                          smp=False, storage=(spec["group"], names["plural"]),
                          field_labels=[f.get("jsonPath", "").lstrip(".")
                                        for f in spec.get("selectableFields") or
                                        v.get("selectableFields") or []],
                          crd_name=crd["metadata"]["name"])
        rt.list_kind = names.get("listKind") or names["kind"] + "List"
        rt.storage_version = next((x["name"] for x in spec["versions"] if x.get("storage")),
                                  v["name"])
        out.append(rt)
    return out
