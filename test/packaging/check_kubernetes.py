#!/usr/bin/env python3
"""Checks packaging/kubernetes/wacd-daemonset.yaml.

    check_kubernetes.py WACD MANIFEST VERSION

The manifest must parse, hold exactly a Namespace, a ConfigMap and a
DaemonSet, and run wacd the way the README promises: host network, NET_ADMIN
and NET_RAW without full privileges, the node name from the downward API
passed with --node-name, the ConfigMap as /etc/wac, and host mounts for the
socket and state directories that the configuration actually uses.  The ConfigMap's
wacd.yaml must pass `wacd --check-config`.
"""
import os
import subprocess
import sys
import tempfile

import yaml

failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)
    return condition


def by_kind(documents):
    found = {}
    for doc in documents:
        expect(isinstance(doc, dict) and "kind" in doc, f"document without a kind: {doc!r}")
        if isinstance(doc, dict):
            expect(doc.get("kind") not in found, f"two {doc.get('kind')} documents")
            found[doc.get("kind")] = doc
    return found


def check_config(wacd, text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        r = subprocess.run([wacd, "--check-config", "--config", f.name, "--node-name", "node-from-downward-api"],
                           capture_output=True, text=True)
    if not expect(r.returncode == 0, f"wacd rejects the ConfigMap's wacd.yaml: {r.stderr.strip()}"):
        return {}
    return yaml.safe_load(r.stdout)


def host_path_for(spec, container, mount_path):
    """The hostPath behind the container's mount at mount_path, or None."""
    mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"] == mount_path), None)
    if mount is None:
        return None
    volume = next((v for v in spec.get("volumes", []) if v["name"] == mount["name"]), {})
    return volume.get("hostPath", {}).get("path")


def check_daemonset(ds, namespace, configmap, effective, version):
    spec = ds["spec"]["template"]["spec"]
    expect(ds["metadata"].get("namespace") == namespace, "the DaemonSet is not in the wac Namespace")
    expect(spec.get("hostNetwork") is True, "hostNetwork is not true")
    expect(spec.get("dnsPolicy") == "ClusterFirstWithHostNet", "dnsPolicy should be ClusterFirstWithHostNet")
    containers = spec.get("containers", [])
    if not expect(len(containers) == 1, "expected one container"):
        return
    c = containers[0]
    expect(c.get("image", "").endswith(":" + version), f"image tag is not the package version {version}")
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    expect(sorted(caps.get("add", [])) == ["NET_ADMIN", "NET_RAW"],
           f"capabilities added should be NET_ADMIN and NET_RAW, are {caps.get('add')}")
    expect(caps.get("drop") == ["ALL"], "all other capabilities should be dropped")
    expect(sc.get("privileged") is False, "the container should not be privileged")
    expect(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation should be false")

    command = c.get("command", []) + c.get("args", [])
    expect(command[:1] == ["/usr/sbin/wacd"], "the container does not run /usr/sbin/wacd")
    env = {e["name"]: e for e in c.get("env", [])}
    field = env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    expect(field == "spec.nodeName", "NODE_NAME does not come from the downward API spec.nodeName")
    expect("--node-name" in command and command[command.index("--node-name") + 1:][:1] == ["$(NODE_NAME)"],
           "wacd is not given --node-name $(NODE_NAME)")
    config_arg = command[command.index("--config") + 1] if "--config" in command else "/etc/wac/wacd.yaml"

    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    config_dir = os.path.dirname(config_arg)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    config_volume = volumes.get(mounts.get(config_dir, {}).get("name"), {})
    expect(config_volume.get("configMap", {}).get("name") == configmap["metadata"]["name"],
           f"{config_dir} is not the ConfigMap")
    expect(os.path.basename(config_arg) in configmap.get("data", {}), f"the ConfigMap has no {config_arg}")
    if effective:
        socket_dir = os.path.dirname(effective["socket"])
        expect(host_path_for(spec, c, socket_dir) == socket_dir,
               f"the socket directory {socket_dir} is not the host's")
        expect(host_path_for(spec, c, effective["stateDir"]) == effective["stateDir"],
               f"the state directory {effective['stateDir']} is not the host's")


def main():
    wacd, manifest, version = sys.argv[1:4]
    with open(manifest) as f:
        documents = [d for d in yaml.safe_load_all(f) if d is not None]
    kinds = by_kind(documents)
    expect(set(kinds) == {"Namespace", "ConfigMap", "DaemonSet"},
           f"expected a Namespace, a ConfigMap and a DaemonSet, found {sorted(kinds)}")
    if not failures:
        namespace = kinds["Namespace"]["metadata"]["name"]
        configmap = kinds["ConfigMap"]
        expect(configmap["metadata"].get("namespace") == namespace, "the ConfigMap is not in the wac Namespace")
        effective = check_config(wacd, configmap.get("data", {}).get("wacd.yaml", ""))
        check_daemonset(kinds["DaemonSet"], namespace, configmap, effective, version)
    if failures:
        sys.exit("FAIL: " + manifest + ":\n  " + "\n  ".join(failures))
    print(f"ok: {manifest}: {len(documents)} documents")


if __name__ == "__main__":
    main()
