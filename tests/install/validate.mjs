// SPDX-License-Identifier: Apache-2.0
// Validate Kubernetes objects against the Kubernetes schemas: every built-in kind with the
// `kubernetes-models` package (the OpenAPI schemas of Kubernetes, compiled), PodMonitor and
// PrometheusRule with `@kubernetes-models/prometheus-operator`. The compiled schemas accept
// unknown fields (as Kubernetes' OpenAPI does), so unknown fields are also checked, as
// kube-apiserver's strict field validation (`kubectl apply --validate=strict`) does: the
// packages' type declarations (.d.ts) list every field of every type.
//
// Usage: node validate.mjs FILE.json   (a JSON array of {source, object}; tests/install/lib.py
// writes it from YAML). Kinds listed in --custom KIND,... (custom resources validated elsewhere,
// against their CRD) are skipped. Prints one line per object; exit 1 when any is invalid.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
let custom = new Set();
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--custom") custom = new Set(args[++i].split(","));
  else files.push(args[i]);
}
if (files.length !== 1) {
  console.error("usage: node validate.mjs [--custom KIND,...] FILE.json");
  process.exit(2);
}

// The model module of an apiVersion/kind.
function modelSpecifier(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1")
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

// ---- Type declarations: a small parser for the .d.ts the packages ship.
// Type := Primary ('|' Primary)* ; Primary := 'Array<' Type '>' | '{' Members '}' | string
// literal | number | identifier ('[' string ']')? ; Members := ('[key: string]:' Type ';' |
// '"name"' '?'? ':' Type ';')*
// A type is {k:"obj", props, index} | {k:"arr", of} | {k:"ref", name, file} | {k:"any"}.
const fileCache = new Map();

function parseType(src, pos, file) {
  const ws = () => {
    while (pos.i < src.length && /\s/.test(src[pos.i])) pos.i++;
  };
  const alts = [];
  for (;;) {
    ws();
    alts.push(parsePrimary());
    ws();
    if (src[pos.i] === "|") {
      pos.i++;
      continue;
    }
    break;
  }
  // A union (string literals, or several shapes) is not checked further.
  return alts.length === 1 ? alts[0] : { k: "any" };

  function parsePrimary() {
    ws();
    if (src.startsWith("Array<", pos.i)) {
      pos.i += 6;
      const of = parseType(src, pos, file);
      ws();
      if (src[pos.i] !== ">") throw new Error(`${file}: '>' expected at ${pos.i}`);
      pos.i++;
      return { k: "arr", of };
    }
    if (src[pos.i] === "{") {
      pos.i++;
      return parseMembers(src, pos, file, "}");
    }
    if (src[pos.i] === '"') {
      const end = src.indexOf('"', pos.i + 1);
      pos.i = end + 1;
      return { k: "any" };
    }
    const m = /^[A-Za-z_$][\w$]*(\[\s*"[^"]*"\s*\])?|^-?[0-9.]+/.exec(src.slice(pos.i));
    if (!m) throw new Error(`${file}: type expected at ${src.slice(pos.i, pos.i + 40)}`);
    pos.i += m[0].length;
    const name = m[0];
    if (/^(string|number|boolean|any|unknown|object|null|true|false)$/.test(name) || m[1] || /^[-0-9]/.test(name))
      return { k: "any" };
    return { k: "ref", name, file };
  }
}

function parseMembers(src, pos, file, close) {
  const obj = { k: "obj", props: {}, index: null };
  for (;;) {
    while (pos.i < src.length && /[\s;,]/.test(src[pos.i])) pos.i++;
    if (src[pos.i] === close) {
      pos.i++;
      return obj;
    }
    let m = /^\[\s*key\s*:\s*string\s*\]\s*:/.exec(src.slice(pos.i));
    if (m) {
      pos.i += m[0].length;
      obj.index = parseType(src, pos, file);
      continue;
    }
    m = /^"([^"]*)"\s*\??\s*:/.exec(src.slice(pos.i)) || /^([A-Za-z_$][\w$]*)\s*\??\s*:/.exec(src.slice(pos.i));
    if (!m) throw new Error(`${file}: member expected at ${JSON.stringify(src.slice(pos.i, pos.i + 60))}`);
    pos.i += m[0].length;
    obj.props[m[1]] = parseType(src, pos, file);
  }
}

function loadDecl(file) {
  if (fileCache.has(file)) return fileCache.get(file);
  const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const decl = { imports: {}, interfaces: {}, aliases: {}, types: {}, file };
  for (const m of text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"([^"]+)"/g))
    for (const n of m[1].split(",").map((s) => s.trim()).filter(Boolean)) decl.imports[n.split(/\s+as\s+/).pop()] = m[2];
  for (const m of text.matchAll(/export\s+type\s*\{([^}]*)\}/g))
    for (const part of m[1].split(",")) {
      const [local, alias] = part.trim().split(/\s+as\s+/);
      if (alias) decl.aliases[alias] = local;
    }
  for (const m of text.matchAll(/export\s+type\s+(\w+)\s*=\s*([^;]+);/g)) decl.types[m[1]] = m[2];
  for (const m of text.matchAll(/export\s+interface\s+(\w+)(?:\s+extends\s+[^{]+)?\s*\{/g)) {
    const pos = { i: m.index + m[0].length };
    decl.interfaces[m[1]] = parseMembers(text, pos, file, "}");
  }
  fileCache.set(file, decl);
  return decl;
}

// Both packages export "./*" as "./*.js" (with .d.ts beside): resolve by path, which works on
// every Node version (import.meta.resolve is Node >= 20.6).
const NODE_MODULES = path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules");
function resolveSpecifier(spec, fromFile) {
  if (spec.startsWith(".")) return path.resolve(path.dirname(fromFile), spec.replace(/\.js$/, ".d.ts"));
  return path.join(NODE_MODULES, spec.replace(/\.js$/, "") + ".d.ts");
}

// A ref's type: a local interface or alias, else the imported file's interface.
function resolveRef(t, depth = 0) {
  if (depth > 10) return { k: "any" };
  const decl = loadDecl(t.file);
  let name = decl.aliases[t.name] || t.name;
  if (decl.interfaces[name]) return decl.interfaces[name];
  if (decl.types[name]) {
    const ty = parseType(decl.types[name], { i: 0 }, t.file);
    return ty.k === "ref" ? resolveRef(ty, depth + 1) : ty;
  }
  const spec = decl.imports[t.name];
  if (!spec || spec === "@kubernetes-models/base") return { k: "any" };
  return resolveRef({ k: "ref", name: t.name, file: resolveSpecifier(spec, t.file) }, depth + 1);
}

function unknownFields(value, type, at, out) {
  if (type.k === "ref") type = resolveRef(type);
  if (value === null || value === undefined) return;
  // An empty interface (JSONSchemaPropsOrArray, JSON, RawExtension...) is free-form.
  if (type.k === "obj" && !type.index && Object.keys(type.props).length === 0) return;
  if (type.k === "arr" && Array.isArray(value)) value.forEach((v, i) => unknownFields(v, type.of, `${at}[${i}]`, out));
  else if (type.k === "obj" && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k in type.props) unknownFields(v, type.props[k], at ? `${at}.${k}` : k, out);
      else if (type.index) unknownFields(v, type.index, at ? `${at}.${k}` : k, out);
      else out.push(`unknown field "${at ? `${at}.${k}` : k}"`);
    }
  }
}

// ---- Validation.
const items = JSON.parse(fs.readFileSync(files[0], "utf8"));
let bad = 0;
for (const { source, object } of items) {
  const id = `${source}: ${object.kind} ${object.metadata?.namespace ? object.metadata.namespace + "/" : ""}${object.metadata?.name}`;
  if (custom.has(object.kind)) {
    console.log(`SKIP ${id} (custom resource)`);
    continue;
  }
  const spec = modelSpecifier(object.apiVersion, object.kind);
  let mod;
  try {
    mod = await import(spec);
  } catch (e) {
    console.log(`FAIL ${id}: no schema for ${object.apiVersion} ${object.kind} (${spec})`);
    bad++;
    continue;
  }
  const Model = mod[object.kind] || mod.default;
  const errors = [];
  try {
    new Model(object).validate();
  } catch (e) {
    errors.push(e.message);
  }
  try {
    const file = resolveSpecifier(spec, "");
    const decl = loadDecl(file);
    const iface = decl.interfaces[`I${object.kind}`];
    if (!iface) throw new Error(`no interface I${object.kind} in ${file}`);
    unknownFields(object, iface, "", errors);
  } catch (e) {
    errors.push(`type declarations: ${e.message}`);
  }
  if (errors.length) {
    bad++;
    console.log(`FAIL ${id}:\n  ${errors.join("\n  ")}`);
  } else console.log(`ok   ${id}`);
}
console.log(`${items.length - bad} valid, ${bad} invalid`);
process.exit(bad ? 1 : 0);
