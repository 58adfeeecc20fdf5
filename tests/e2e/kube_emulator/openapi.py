# SPDX-License-Identifier: Apache-2.0
"""Discovery documents (legacy and aggregated v2/v2beta1) and OpenAPI v3 per group-version."""

import copy
import hashlib
import json

META = "io.k8s.apimachinery.pkg.apis.meta.v1."

OBJECT_META = {
    "description": "ObjectMeta is metadata that all persisted resources must have, which "
                   "includes all objects users must create.",
    "type": "object",
    "properties": {
        "annotations": {"type": "object", "additionalProperties": {"type": "string", "default": ""},
                        "description": "Annotations is an unstructured key value map stored with "
                        "a resource that may be set by external tools to store and retrieve "
                        "arbitrary metadata."},
        "creationTimestamp": {"allOf": [{"$ref": "#/components/schemas/" + META + "Time"}],
                              "description": "CreationTimestamp is a timestamp representing the "
                              "server time when this object was created."},
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64", "description":
                                       "Number of seconds allowed for this object to gracefully "
                                       "terminate before it will be removed from the system."},
        "deletionTimestamp": {"allOf": [{"$ref": "#/components/schemas/" + META + "Time"}],
                              "description": "DeletionTimestamp is RFC 3339 date and time at "
                              "which this resource will be deleted."},
        "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                       "x-kubernetes-list-type": "set", "description": "Must be empty before the "
                       "object is deleted from the registry."},
        "generateName": {"type": "string", "description": "GenerateName is an optional prefix, "
                         "used by the server, to generate a unique name ONLY IF the Name field "
                         "has not been provided."},
        "generation": {"type": "integer", "format": "int64", "description": "A sequence number "
                       "representing a specific generation of the desired state."},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""},
                   "description": "Map of string keys and values that can be used to organize "
                   "and categorize (scope and select) objects."},
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "namespace": {"type": "string", "description": "Namespace defines the space within which "
                      "each name must be unique."},
        "ownerReferences": {"type": "array", "items": {"type": "object"},
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["uid"],
                            "description": "List of objects depended by this object."},
        "resourceVersion": {"type": "string", "description": "An opaque value that represents "
                            "the internal version of this object."},
        "uid": {"type": "string", "description": "UID is the unique in time and space value for "
                "this object."},
    },
}

COMMON = {
    META + "ObjectMeta": OBJECT_META,
    META + "ListMeta": {"type": "object", "description": "ListMeta describes metadata that "
                        "synthetic resources must have.", "properties": {
                            "continue": {"type": "string"}, "remainingItemCount": {
                                "type": "integer", "format": "int64"},
                            "resourceVersion": {"type": "string"}}},
    META + "Time": {"type": "string", "format": "date-time", "description": "Time is a wrapper "
                    "around time.Time which supports correct marshaling to YAML and JSON."},
    META + "MicroTime": {"type": "string", "format": "date-time", "description": "MicroTime is "
                         "version of Time with microsecond level precision."},
    META + "Patch": {"type": "object", "description": "Patch is provided to give a concrete name "
                     "and type to the Kubernetes PATCH request body."},
    META + "Status": {"type": "object", "description": "Status is a return value for calls that "
                      "don't return other objects.", "properties": {
                          "apiVersion": {"type": "string"}, "code": {"type": "integer"},
                          "details": {"type": "object"}, "kind": {"type": "string"},
                          "message": {"type": "string"}, "reason": {"type": "string"},
                          "status": {"type": "string"}},
                      "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status",
                                                           "version": "v1"}]},
    META + "DeleteOptions": {"type": "object", "description": "DeleteOptions may be provided "
                             "when deleting an API object.", "properties": {
                                 "dryRun": {"type": "array", "items": {"type": "string"}},
                                 "gracePeriodSeconds": {"type": "integer"},
                                 "preconditions": {"type": "object"},
                                 "propagationPolicy": {"type": "string"}}},
}

BUILTIN_SCHEMAS = {
    ("", "v1", "Pod"): ("io.k8s.api.core.v1.Pod", "Pod is a collection of containers that can "
                        "run on a host."),
    ("", "v1", "Namespace"): ("io.k8s.api.core.v1.Namespace", "Namespace provides a scope for "
                              "Names."),
    ("", "v1", "Event"): ("io.k8s.api.core.v1.Event", "Event is a report of an event somewhere in "
                          "the cluster."),
    ("events.k8s.io", "v1", "Event"): ("io.k8s.api.events.v1.Event", "Event is a report of an "
                                       "event somewhere in the cluster."),
    ("coordination.k8s.io", "v1", "Lease"): ("io.k8s.api.coordination.v1.Lease", "Lease defines "
                                             "a lease concept."),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        "CustomResourceDefinition represents a resource that should be exposed on the API "
        "server."),
}


def schema_name(rt, list_=False):
    key = (rt.group, rt.version, rt.kind)
    if key in BUILTIN_SCHEMAS:
        n = BUILTIN_SCHEMAS[key][0]
    else:
        n = ".".join(reversed(rt.group.split("."))) + "." + rt.version + "." + rt.kind
    return n + ("List" if list_ else "")


def gvk_ext(rt, kind=None):
    return {"group": rt.group, "version": rt.version, "kind": kind or rt.kind}


# ---------------------------------------------------------------------------------------------
# Discovery


def api_resource(rt):
    r = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
         "kind": rt.kind, "verbs": rt.verbs,
         "storageVersionHash": hashlib.sha256(("%s/%s/%s" % (
             rt.group, rt.version, rt.plural)).encode()).hexdigest()[:11]}
    if rt.short_names:
        r["shortNames"] = rt.short_names
    if rt.categories:
        r["categories"] = rt.categories
    return r


def resource_list(gv, types):
    res = []
    for rt in types:
        res.append(api_resource(rt))
        if rt.status:
            res.append({"name": rt.plural + "/status", "singularName": "",
                        "namespaced": rt.namespaced, "kind": rt.kind,
                        "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}


def aggregated(groups, version="v2"):
    """groups: list of (group name, [(version, [types])]) -> APIGroupDiscoveryList."""
    items = []
    for name, versions in groups:
        vs = []
        for v, types in versions:
            res = []
            for rt in types:
                r = {"resource": rt.plural, "responseKind": gvk_ext(rt),
                     "scope": "Namespaced" if rt.namespaced else "Cluster",
                     "singularResource": rt.singular, "verbs": rt.verbs}
                if rt.short_names:
                    r["shortNames"] = rt.short_names
                if rt.categories:
                    r["categories"] = rt.categories
                if rt.status:
                    r["subresources"] = [{"subresource": "status", "responseKind": gvk_ext(rt),
                                          "verbs": ["get", "patch", "update"]}]
                res.append(r)
            vs.append({"version": v, "resources": res, "freshness": "Current"})
        md = {"creationTimestamp": None}
        if name:
            md["name"] = name
        items.append({"metadata": md, "versions": vs})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/" + version,
            "metadata": {}, "items": items}


# ---------------------------------------------------------------------------------------------
# OpenAPI v3


def _param(name, where, desc, typ="string", required=False):
    return {"name": name, "in": where, "description": desc, "required": required,
            "schema": {"type": typ, "uniqueItems": True}}


Q_DRYRUN = _param("dryRun", "query", "When present, indicates that modifications should not be "
                  "persisted.")
Q_FIELDMANAGER = _param("fieldManager", "query", "fieldManager is a name associated with the "
                        "actor or entity that is making these changes.")
Q_FIELDVALIDATION = _param("fieldValidation", "query", "fieldValidation instructs the server on "
                           "how to handle objects in the request (POST/PUT/PATCH) containing "
                           "unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.")
Q_FORCE = _param("force", "query", "Force is going to \"force\" Apply requests.", "boolean")


def _ref(name):
    return {"$ref": "#/components/schemas/" + name}


def _op(rt, action, schema_ref, params=(), body_types=None, kind=None):
    op = {"tags": [rt.group or "core"], "description": "%s %s" % (action, rt.kind),
          "operationId": action + rt.kind,
          "responses": {"200": {"description": "OK", "content": {
              "application/json": {"schema": _ref(schema_ref)}}},
              "401": {"description": "Unauthorized"}},
          "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": gvk_ext(rt, kind)}
    if params:
        op["parameters"] = list(params)
    if body_types:
        op["requestBody"] = {"content": {t: {"schema": _ref(META + "Patch" if action == "patch"
                                                            else schema_ref)}
                                         for t in body_types}, "required": True}
    return op


def _crd_schema_for_openapi(s, rt):
    s = copy.deepcopy(s)
    props = s.setdefault("properties", {})
    props["metadata"] = {"allOf": [_ref(META + "ObjectMeta")], "default": {},
                         "description": "Standard object's metadata. More info: https://git.k8s"
                         ".io/community/contributors/devel/sig-architecture/api-conventions.md"
                         "#metadata"}
    s["x-kubernetes-group-version-kind"] = [gvk_ext(rt)]
    return s


def _builtin_schema(rt):
    name, desc = BUILTIN_SCHEMAS[(rt.group, rt.version, rt.kind)]
    return {"type": "object", "description": desc, "properties": {
        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned "
                       "schema of this representation of an object."},
        "kind": {"type": "string", "description": "Kind is a string value representing the "
                 "REST resource this object represents."},
        "metadata": {"allOf": [_ref(META + "ObjectMeta")], "default": {},
                     "description": "Standard object's metadata."},
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "description": "Specification of the desired behavior (not detailed by the "
                 "emulator)."},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                   "description": "Most recently observed status (not detailed by the "
                   "emulator)."}},
        "x-kubernetes-group-version-kind": [gvk_ext(rt)]}


def gv_document(gv_path, types):
    """OpenAPI v3 document of one group-version ("api/v1" or "apis/<group>/<version>")."""
    schemas = copy.deepcopy(COMMON)
    paths = {}
    patch_types = ["application/json-patch+json", "application/merge-patch+json",
                   "application/apply-patch+yaml"]
    for rt in types:
        sname = schema_name(rt)
        lname = schema_name(rt, True)
        if rt.builtin:
            schemas[sname] = _builtin_schema(rt)
        else:
            schemas[sname] = _crd_schema_for_openapi(rt.schema, rt)
        schemas[lname] = {"type": "object", "required": ["items"], "properties": {
            "apiVersion": {"type": "string"}, "items": {"type": "array", "items": _ref(sname)},
            "kind": {"type": "string"}, "metadata": {"allOf": [_ref(META + "ListMeta")]}},
            "x-kubernetes-group-version-kind": [gvk_ext(rt, rt.list_kind)]}
        base = "/" + gv_path + ("/namespaces/{namespace}/" if rt.namespaced else "/") + rt.plural
        pns = [_param("namespace", "path", "object name and auth scope", required=True)] \
            if rt.namespaced else []
        pname = [_param("name", "path", "name of the %s" % rt.kind, required=True)]
        paths[base] = {
            "get": _op(rt, "list", lname),
            "post": _op(rt, "post", sname, [Q_DRYRUN, Q_FIELDMANAGER, Q_FIELDVALIDATION],
                        ["*/*"]),
            "delete": _op(rt, "deletecollection", META + "Status"),
            "parameters": pns}
        paths[base + "/{name}"] = {
            "get": _op(rt, "get", sname),
            "put": _op(rt, "put", sname, [Q_DRYRUN, Q_FIELDMANAGER, Q_FIELDVALIDATION], ["*/*"]),
            "patch": _op(rt, "patch", sname,
                         [Q_DRYRUN, Q_FIELDMANAGER, Q_FIELDVALIDATION, Q_FORCE], patch_types),
            "delete": _op(rt, "delete", META + "Status", [Q_DRYRUN]),
            "parameters": pns + pname}
        if rt.status:
            paths[base + "/{name}/status"] = {
                "get": _op(rt, "get", sname),
                "put": _op(rt, "put", sname, [Q_DRYRUN, Q_FIELDMANAGER, Q_FIELDVALIDATION],
                           ["*/*"]),
                "patch": _op(rt, "patch", sname,
                             [Q_DRYRUN, Q_FIELDMANAGER, Q_FIELDVALIDATION, Q_FORCE],
                             patch_types),
                "parameters": pns + pname}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": schemas}}


def doc_hash(doc):
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()
