#!/usr/bin/env bash
# Validates every manifest in config/kubernetes/ against the Kubernetes API schemas of one
# Kubernetes version (K8S_VERSION, default 1.30) with kubernetes-validate from PyPI, strictly
# (an unknown field is an error, as with `kubectl apply --validate=strict`). The tool ships the
# schemas, so once installed it needs no network and no API server. Then checks what a schema
# cannot: every ConfigMap config is valid TOML, uses only the variables the DaemonSet sets and
# has the mode of its key; the DaemonSet mounts a key that exists at the path its args read;
# the selector matches the pod labels; names and namespaces agree; the ClusterRole grants exactly
# what docs/kubernetes.md says; the container keeps its restricted security context.
# Installs kubernetes-validate into a virtualenv when missing; fails loudly when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="${K8S_VERSION:-1.30}"
KV_VERSION=1.37.0
venv="${KUBERNETES_VALIDATE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/speakerd/kubernetes-validate-$KV_VERSION}"
dir=config/kubernetes

fail() {
    echo "scripts/validate-manifests.sh: $*" >&2
    exit 1
}

command -v python3 >/dev/null || fail "python3 is missing"

if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    echo "installing kubernetes-validate $KV_VERSION into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian's python3 needs python3-venv for `python3 -m venv`.
        rm -rf "$venv"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null ||
                fail "cannot install python3-venv"
            python3 -m venv "$venv" || fail "python3 -m venv $venv failed"
        else
            fail "python3 -m venv failed (on Debian: apt-get install python3-venv)"
        fi
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KV_VERSION" ||
        { rm -rf "$venv"; fail "cannot install kubernetes-validate $KV_VERSION from PyPI"; }
fi
"$venv/bin/kubernetes-validate" --version >/dev/null || fail "$venv/bin/kubernetes-validate does not run"

shopt -s nullglob
manifests=("$dir"/*.yaml)
[ ${#manifests[@]} -gt 0 ] || fail "no manifests in $dir"

# kubernetes-validate exits 0 on a kind it has no schema for (only a WARN line) and on an
# empty file (no line at all), so its output is read too: every file must pass, nothing else.
echo "kubernetes-validate $KV_VERSION --strict against Kubernetes $K8S_VERSION:"
status=0
out=$("$venv/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "${manifests[@]}" 2>&1) || status=$?
echo "$out" | sed 's/^/  /'
[ "$status" = 0 ] || fail "kubernetes-validate failed (exit $status)"
if echo "$out" | grep -Ev '^INFO .* passed for resource ' | grep -q .; then
    fail "kubernetes-validate reported something other than a pass"
fi
for m in "${manifests[@]}"; do
    echo "$out" | grep -qF "INFO $m passed for resource " || fail "$m: not validated (empty?)"
done

echo "consistency checks:"
"$venv/bin/python" - "$dir" <<'PY'
import re
import sys
import tomllib
from pathlib import Path

import yaml

directory = Path(sys.argv[1])
errors = []
objects = {}
for path in sorted(directory.glob("*.yaml")):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in docs:
        objects[(doc["kind"], doc["metadata"]["name"])] = (path.name, doc)


def check(cond, what):
    if not cond:
        errors.append(what)


def get(kind, name):
    found = objects.get((kind, name))
    check(found is not None, f"no {kind} {name}")
    return found[1] if found else {}


NS = "speakerd-system"
get("Namespace", NS)
for (kind, name), (file, doc) in objects.items():
    if kind not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
        check(doc["metadata"].get("namespace") == NS, f"{file}: {kind} {name} not in {NS}")

# RBAC: exactly nodes get/list/watch, events create/patch (core and events.k8s.io), the
# bgp.speakerd.io configuration get/list/watch and the node status get/create/patch; and,
# namespaced, the Secrets of speakerd-system get.
def grants(kind, name):
    role = get(kind, name)
    granted = set()
    for rule in role.get("rules", []):
        check(not rule.get("nonResourceURLs") and not rule.get("resourceNames"),
              f"{kind} {name}: unexpected nonResourceURLs/resourceNames")
        for group in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    granted.add((group, res, verb))
    return granted


granted = grants("ClusterRole", "speakerd")
G = "bgp.speakerd.io"
expected = {("", "nodes", v) for v in ("get", "list", "watch")}
expected |= {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
expected |= {(G, r, v) for r in ("bgpclusterconfigs", "bgpadvertisements") for v in ("get", "list", "watch")}
expected |= {(G, "bgpnodestatuses", v) for v in ("get", "create", "patch")}
expected |= {(G, "bgpnodestatuses/status", "patch")}
expected |= {("", "services", v) for v in ("list", "watch")}
expected |= {("discovery.k8s.io", "endpointslices", v) for v in ("list", "watch")}
check(granted == expected,
      f"ClusterRole grants {sorted(granted - expected)} too much, {sorted(expected - granted)} too little")
secrets = grants("Role", "speakerd-secrets")
check(secrets == {("", "secrets", "get")},
      f"Role speakerd-secrets grants {sorted(secrets)}, not exactly Secrets get")
secrets_binding = get("RoleBinding", "speakerd-secrets")
check(secrets_binding.get("roleRef", {}).get("name") == "speakerd-secrets", "RoleBinding: roleRef")
check(secrets_binding.get("subjects") == [{"kind": "ServiceAccount", "name": "speakerd", "namespace": NS}],
      "RoleBinding: subjects must be exactly the speakerd ServiceAccount")
binding = get("ClusterRoleBinding", "speakerd")
check(binding.get("roleRef", {}).get("name") == "speakerd", "ClusterRoleBinding: roleRef")
check(binding.get("subjects") == [{"kind": "ServiceAccount", "name": "speakerd", "namespace": NS}],
      "ClusterRoleBinding: subjects must be exactly the speakerd ServiceAccount")
get("ServiceAccount", "speakerd")

# The DaemonSet.
ds = get("DaemonSet", "speakerd")
spec = ds.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
for k, v in spec.get("selector", {}).get("matchLabels", {}).items():
    check(labels.get(k) == v, f"DaemonSet: selector {k}={v} does not match the pod labels")
check(pod.get("serviceAccountName") == "speakerd", "DaemonSet: serviceAccountName")
check(pod.get("hostNetwork") is True, "DaemonSet: hostNetwork must be true")
check(pod.get("tolerations") == [{"operator": "Exists"}], "DaemonSet: tolerations must be [operator: Exists]")
check(pod.get("priorityClassName") == "system-node-critical", "DaemonSet: priorityClassName")
ru = spec.get("updateStrategy", {}).get("rollingUpdate", {})
check(spec.get("updateStrategy", {}).get("type") == "RollingUpdate"
      and ru.get("maxUnavailable") == 1 and ru.get("maxSurge") == 0,
      "DaemonSet: RollingUpdate with maxUnavailable 1, maxSurge 0")
containers = pod.get("containers", [])
check(len(containers) == 1, "DaemonSet: one container")
c = containers[0] if containers else {}
sc = c.get("securityContext", {})
check(sc.get("privileged") is False, "container: privileged must be false")
check(sc.get("allowPrivilegeEscalation") is False, "container: allowPrivilegeEscalation must be false")
check(sc.get("readOnlyRootFilesystem") is True, "container: readOnlyRootFilesystem must be true")
check(sc.get("capabilities", {}).get("drop") == ["ALL"], "container: capabilities drop ALL")
check(sorted(sc.get("capabilities", {}).get("add", [])) == ["NET_ADMIN", "NET_BIND_SERVICE"],
      "container: capabilities add exactly NET_ADMIN, NET_BIND_SERVICE")
env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
check(env.get("NODE_NAME") == "spec.nodeName", "container: NODE_NAME from spec.nodeName")
check(env.get("NODE_IP") == "status.hostIP", "container: NODE_IP from status.hostIP")

# The config the args read is the ConfigMap key the volume maps there.
args = c.get("args", [])
check(args[:2] == ["run", "--config"] and len(args) == 3, f"container: args {args}")
config_path = args[2] if len(args) == 3 else ""
mounts = {m["name"]: m["mountPath"].rstrip("/") for m in c.get("volumeMounts", [])}
cm = get("ConfigMap", "speakerd-config")
data = cm.get("data", {})
chosen = None
for vol in pod.get("volumes", []):
    ref = vol.get("configMap")
    if not ref:
        continue
    check(ref.get("name") == "speakerd-config", f"volume {vol['name']}: ConfigMap {ref.get('name')}")
    for item in ref.get("items", []):
        check(item["key"] in data, f"volume {vol['name']}: ConfigMap has no key {item['key']}")
        if f"{mounts.get(vol['name'])}/{item['path']}" == config_path:
            chosen = item["key"]
check(chosen is not None, f"no ConfigMap key is mounted at {config_path}")

# Probes reach the admin API every config listens on.
admin_ports = set()
for probe in ("readinessProbe", "livenessProbe"):
    check(probe in c, f"container: no {probe}")
probe_ports = {c.get(p, {}).get("httpGet", {}).get("port") for p in ("readinessProbe", "livenessProbe")}
check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "readinessProbe: /readyz")
check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "livenessProbe: /healthz")

# Every config: TOML, only the variables the DaemonSet sets, the mode its key names.
modes = {"tor.toml": "tor", "mesh.toml": "mesh", "route-reflector.toml": "route-reflector"}
check(set(data) == set(modes), f"ConfigMap keys {sorted(data)}, expected {sorted(modes)}")
for key, text in data.items():
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        errors.append(f"ConfigMap {key}: not TOML: {e}")
        continue
    for var in set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)):
        check(var in env, f"ConfigMap {key}: ${{{var}}} is not set by the DaemonSet")
    k8s = cfg.get("kubernetes", {})
    check(k8s.get("mode") == modes.get(key), f"ConfigMap {key}: mode {k8s.get('mode')!r}")
    check(k8s.get("node_name") == "${NODE_NAME}", f"ConfigMap {key}: node_name")
    check("prefix" not in cfg, f"ConfigMap {key}: no [[prefix]]: PodCIDRs come from the Node")
    listen = cfg.get("admin", {}).get("listen", "")
    check(listen == "${NODE_IP}:9179", f"ConfigMap {key}: [admin] listen {listen!r}")
    admin_ports.add(int(listen.rsplit(":", 1)[1]) if ":" in listen else None)
    shutdown_drain = cfg.get("global", {}).get("shutdown_drain_seconds", 0)
    check(shutdown_drain + 5 < pod.get("terminationGracePeriodSeconds", 30),
          f"ConfigMap {key}: shutdown_drain_seconds + 5 s to close must be below terminationGracePeriodSeconds")
    check(("tor" in k8s) == (key == "tor.toml"), f"ConfigMap {key}: [[kubernetes.tor]] only in tor mode")
check(probe_ports <= admin_ports, f"probe ports {probe_ports} vs admin ports {admin_ports}")

for e in errors:
    print(f"  FAIL {e}")
if errors:
    sys.exit(1)
print(f"  ok: {len(objects)} objects; the DaemonSet mounts {chosen}")
PY
echo "custom resource examples against the generated CRDs:"
"$venv/bin/python" - "$dir" <<'PY'
# Every example in config/kubernetes/examples/ must validate against the openAPIV3Schema of
# its CRD in crds.yaml, strictly (a field the schema does not name is an error, as the API
# server's pruning would silently drop it).
import sys
from pathlib import Path

import jsonschema
import yaml

directory = Path(sys.argv[1])
crds = {}
for doc in yaml.safe_load_all((directory / "crds.yaml").read_text()):
    if doc:
        version = doc["spec"]["versions"][0]
        crds[(doc["spec"]["group"] + "/" + version["name"], doc["spec"]["names"]["kind"])] = \
            version["schema"]["openAPIV3Schema"]


def strict(schema):
    """The schema with additionalProperties false wherever properties are listed."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items() if k != "nullable"}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


errors = []
count = 0
for path in sorted((directory / "examples").glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        count += 1
        schema = crds.get((doc.get("apiVersion"), doc.get("kind")))
        if schema is None:
            errors.append(f"{path.name}: no CRD for {doc.get('apiVersion')} {doc.get('kind')}")
            continue
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
        for e in jsonschema.Draft7Validator(strict(schema)).iter_errors(body):
            errors.append(f"{path.name}: {doc['metadata']['name']}: {'/'.join(map(str, e.path))}: {e.message}")
for e in errors:
    print(f"  FAIL {e}")
if errors or count == 0:
    sys.exit(1)
print(f"  ok: {count} custom resources")
PY
echo "manifests ok"
