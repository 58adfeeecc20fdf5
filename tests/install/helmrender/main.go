// SPDX-License-Identifier: Apache-2.0

// Command helmrender renders a Helm chart the way `helm template` does, for the parts of Helm
// that charts/kagent-retention uses. No helm binary is packaged for Debian, so the install tests
// render the chart with this: Go's text/template with Helm's function map (sprig, minus env and
// expandenv, plus include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup), Helm's
// values coalescing (-f files and --set over values.yaml, null deletes a key), values.schema.json
// validation (gojsonschema, the validator of Helm 3 up to 3.17), Chart.yaml kubeVersion, the
// built-in objects (.Values, .Release, .Chart, .Capabilities, .Template, .Files), missingkey=zero
// with "<no value>" removed, manifests split on "---", parsed as YAML and ordered by kind as Helm
// installs them, printed with "# Source:" headers; NOTES.txt rendered on request. What it does
// not implement (subcharts, library charts, lookup against a cluster, .Files.Glob/AsConfig,
// --set list syntax) the chart must not use; the CI workflow also runs the real helm.
//
// Build (Debian packages golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v2-dev,
// golang-github-xeipuuv-gojsonschema-dev; no module download):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o helmrender .
//
// Usage: helmrender [-name R] [-namespace NS] [-f values.yaml]... [-set k.e.y=v]...
// [-include-crds] [-notes FILE] [-kube-version 1.32.0] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	yaml "gopkg.in/yaml.v2"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Chart mirrors Helm's chart.Metadata: the fields templates read as .Chart.X.
type Chart struct {
	APIVersion   string            `yaml:"apiVersion"`
	Name         string            `yaml:"name"`
	Version      string            `yaml:"version"`
	AppVersion   string            `yaml:"appVersion"`
	Description  string            `yaml:"description"`
	Type         string            `yaml:"type"`
	KubeVersion  string            `yaml:"kubeVersion"`
	Home         string            `yaml:"home"`
	Icon         string            `yaml:"icon"`
	Sources      []string          `yaml:"sources"`
	Keywords     []string          `yaml:"keywords"`
	Annotations  map[string]string `yaml:"annotations"`
	Deprecated   bool              `yaml:"deprecated"`
	Dependencies []interface{}     `yaml:"dependencies"`
	Maintainers  []struct {
		Name  string `yaml:"name"`
		Email string `yaml:"email"`
		URL   string `yaml:"url"`
	} `yaml:"maintainers"`
}

// Files is .Files: the chart's files outside templates/.
type Files map[string][]byte

func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

type Release struct {
	Name      string
	Namespace string
	IsInstall bool
	IsUpgrade bool
	Revision  int
	Service   string
}

type KubeVersion struct{ Version, Major, Minor, GitVersion string }

func (k KubeVersion) String() string { return k.Version }

type APIVersions []string

func (a APIVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions APIVersions
}

type TemplateInfo struct{ Name, BasePath string }

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "Error: "+format+"\n", args...)
	os.Exit(1)
}

// jsonish converts what yaml.v2 decodes into what Helm's values hold after sigs.k8s.io/yaml:
// string keys, and JSON numbers (float64), through a JSON round trip.
func jsonish(v interface{}) (interface{}, error) {
	var conv func(interface{}) (interface{}, error)
	conv = func(v interface{}) (interface{}, error) {
		switch t := v.(type) {
		case map[interface{}]interface{}:
			m := make(map[string]interface{}, len(t))
			for k, x := range t {
				c, err := conv(x)
				if err != nil {
					return nil, err
				}
				m[fmt.Sprint(k)] = c
			}
			return m, nil
		case []interface{}:
			out := make([]interface{}, len(t))
			for i, x := range t {
				c, err := conv(x)
				if err != nil {
					return nil, err
				}
				out[i] = c
			}
			return out, nil
		default:
			return t, nil
		}
	}
	c, err := conv(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var out interface{}
	err = json.Unmarshal(b, &out)
	return out, err
}

func readYAMLMap(data []byte) (map[string]interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	v, err := jsonish(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, errors.New("not a map")
	}
	return m, nil
}

// coalesce puts src (higher priority) over dst (the defaults), as Helm's CoalesceValues: maps
// merge recursively, a null in src deletes the key.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(dst))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := out[k].(map[string]interface{})
		if sok && dok {
			out[k] = coalesce(dm, sm)
		} else {
			out[k] = v
		}
	}
	return out
}

// mergeMaps merges user values files and --set as Helm's mergeMaps: b over a, maps recursively,
// nulls kept (they delete defaults later, in coalesce).
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]interface{}); ok {
			if am, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// dropNulls removes null values left in the defaults themselves (Helm does the same when it
// coalesces a chart's values).
func dropNulls(m map[string]interface{}) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]interface{}:
			dropNulls(t)
		}
	}
}

// parseSet applies one --set a.b.c=value (Helm's strvals for scalars: true, false, null,
// integers, else a string; no list syntax).
func parseSet(vals map[string]interface{}, expr string, forceString bool) error {
	eq := strings.IndexByte(expr, '=')
	if eq < 0 {
		return fmt.Errorf("--set %q: key=value expected", expr)
	}
	keys := strings.Split(expr[:eq], ".")
	raw := expr[eq+1:]
	var val interface{} = raw
	if !forceString {
		switch {
		case raw == "true":
			val = true
		case raw == "false":
			val = false
		case raw == "null":
			val = nil
		default:
			if i, err := strconv.ParseInt(raw, 10, 64); err == nil && (raw == "0" || raw[0] != '0') {
				val = i
			}
		}
	}
	m := vals
	for _, k := range keys[:len(keys)-1] {
		if strings.ContainsAny(k, "[]") {
			return fmt.Errorf("--set %q: list syntax is not supported by this renderer", expr)
		}
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = val
	return nil
}

func toYAML(v interface{}) string {
	// sigs.k8s.io/yaml.Marshal: JSON first, then YAML (yaml.v2) from the JSON.
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return ""
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m, err := readYAMLMap([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return []interface{}{err.Error()}
	}
	v, err := jsonish(raw)
	if err != nil {
		return []interface{}{err.Error()}
	}
	a, _ := v.([]interface{})
	return a
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// installOrder is Helm's releaseutil.InstallOrder.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}

func kindRank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}

var sepRe = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

type manifest struct {
	source  string
	content string
	kind    string
}

func main() {
	var valueFiles, sets, setStrings multiFlag
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	includeCRDs := flag.Bool("include-crds", false, "print the CRDs of crds/ first")
	notes := flag.String("notes", "", "also render NOTES.txt into this file")
	kubeVersion := flag.String("kube-version", "1.32.0", "Kubernetes version for .Capabilities")
	flag.Var(&valueFiles, "f", "values file (repeatable; later wins)")
	flag.Var(&sets, "set", "key=value (repeatable)")
	flag.Var(&setStrings, "set-string", "key=value, value always a string (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fatalf("usage: helmrender [flags] CHART_DIR")
	}
	dir := flag.Arg(0)

	chartBytes, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		fatalf("%v", err)
	}
	var chart Chart
	if err := yaml.UnmarshalStrict(chartBytes, &chart); err != nil {
		fatalf("Chart.yaml: %v", err)
	}
	if chart.APIVersion != "v2" || chart.Name == "" || chart.Version == "" {
		fatalf("Chart.yaml: apiVersion v2, name and version are required")
	}
	if _, err := semver.NewVersion(chart.Version); err != nil {
		fatalf("Chart.yaml: version %q is not SemVer 2", chart.Version)
	}
	if len(chart.Dependencies) > 0 {
		fatalf("Chart.yaml: dependencies are not supported by this renderer")
	}
	kv, err := semver.NewVersion(*kubeVersion)
	if err != nil {
		fatalf("-kube-version: %v", err)
	}
	if chart.KubeVersion != "" {
		c, err := semver.NewConstraint(chart.KubeVersion)
		if err != nil {
			fatalf("Chart.yaml: kubeVersion: %v", err)
		}
		if !c.Check(kv) {
			fatalf("chart requires kubeVersion: %s which is incompatible with Kubernetes v%s",
				chart.KubeVersion, kv)
		}
	}

	// Values: values.yaml, then each -f, then --set.
	defBytes, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil && !os.IsNotExist(err) {
		fatalf("%v", err)
	}
	defaults, err := readYAMLMap(defBytes)
	if err != nil {
		fatalf("values.yaml: %v", err)
	}
	user := map[string]interface{}{}
	for _, f := range valueFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			fatalf("%v", err)
		}
		m, err := readYAMLMap(b)
		if err != nil {
			fatalf("%s: %v", f, err)
		}
		user = mergeMaps(user, m)
	}
	setVals := map[string]interface{}{}
	for _, s := range sets {
		if err := parseSet(setVals, s, false); err != nil {
			fatalf("%v", err)
		}
	}
	for _, s := range setStrings {
		if err := parseSet(setVals, s, true); err != nil {
			fatalf("%v", err)
		}
	}
	setJSON, _ := jsonish(setVals)
	user = mergeMaps(user, setJSON.(map[string]interface{}))
	values := coalesce(defaults, user)
	dropNulls(values)

	// values.schema.json
	if schema, err := os.ReadFile(filepath.Join(dir, "values.schema.json")); err == nil {
		res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewGoLoader(values))
		if err != nil {
			fatalf("values.schema.json: %v", err)
		}
		if !res.Valid() {
			var sb strings.Builder
			sb.WriteString("values don't meet the specifications of the schema(s) in the following chart(s):\n")
			sb.WriteString(chart.Name + ":\n")
			for _, e := range res.Errors() {
				sb.WriteString("- " + e.String() + "\n")
			}
			fatalf("%s", strings.TrimSuffix(sb.String(), "\n"))
		}
	}

	// Files outside templates/.
	files := Files{}
	var tplNames []string
	tplText := map[string]string{}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "charts" {
				return fmt.Errorf("charts/: subcharts are not supported by this renderer")
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			n := path.Join(chart.Name, rel)
			tplNames = append(tplNames, n)
			tplText[n] = string(b)
		} else {
			files[rel] = b
		}
		return nil
	})
	if err != nil {
		fatalf("%v", err)
	}
	sort.Strings(tplNames)

	// The template set, with Helm's function map.
	root := template.New("gotpl")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includeDepth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	root.Funcs(funcs).Option("missingkey=zero")
	for _, n := range tplNames {
		if _, err := root.New(n).Parse(tplText[n]); err != nil {
			fatalf("parse error at (%s): %v", n, err)
		}
	}

	top := map[string]interface{}{
		"Values": values,
		"Release": Release{Name: *name, Namespace: *namespace, IsInstall: true, Revision: 1,
			Service: "Helm"},
		"Chart": chart,
		"Capabilities": Capabilities{
			KubeVersion: KubeVersion{Version: "v" + kv.String(), Major: strconv.FormatUint(kv.Major(), 10),
				Minor: strconv.FormatUint(kv.Minor(), 10), GitVersion: "v" + kv.String()},
			APIVersions: APIVersions{"v1", "apps/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
				"coordination.k8s.io/v1", "events.k8s.io/v1", "apiextensions.k8s.io/v1"},
		},
		"Files": files,
	}
	render := func(n string) (string, error) {
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = TemplateInfo{Name: n, BasePath: path.Join(chart.Name, "templates")}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, n, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}

	var out []manifest
	for _, n := range tplNames {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		text, err := render(n)
		if err != nil {
			fatalf("%v", err)
		}
		for _, doc := range sepRe.Split(text, -1) {
			doc = strings.TrimSpace(doc)
			if doc == "" {
				continue
			}
			var head struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				fatalf("YAML parse error on %s: %v", n, err)
			}
			// A document of comments only is not a manifest.
			var any interface{}
			_ = yaml.Unmarshal([]byte(doc), &any)
			if any == nil {
				continue
			}
			out = append(out, manifest{source: n, content: doc, kind: head.Kind})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return kindRank(out[i].kind) < kindRank(out[j].kind) })

	var w bytes.Buffer
	if *includeCRDs {
		var crds []string
		for f := range files {
			if strings.HasPrefix(f, "crds/") && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".json")) {
				crds = append(crds, f)
			}
		}
		sort.Strings(crds)
		for _, f := range crds {
			fmt.Fprintf(&w, "---\n# Source: %s\n%s\n", path.Join(chart.Name, f), strings.TrimSpace(string(files[f])))
		}
	}
	for _, m := range out {
		fmt.Fprintf(&w, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	os.Stdout.Write(w.Bytes())

	if *notes != "" {
		n := path.Join(chart.Name, "templates", "NOTES.txt")
		text := ""
		if _, ok := tplText[n]; ok {
			if text, err = render(n); err != nil {
				fatalf("%v", err)
			}
		}
		if err := os.WriteFile(*notes, []byte(text), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}
