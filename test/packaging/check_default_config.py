#!/usr/bin/env python3
"""Checks packaging/wacd.yaml, the default /etc/wac/wacd.yaml, against wacd.

    check_default_config.py WACD CONFIG

1. wacd --check-config accepts the file as shipped (everything commented).
2. With every commented setting uncommented, the file is valid YAML, wacd
   accepts it, and the effective configuration equals wacd's defaults: the
   values the file documents are the real defaults.
3. Every key wacd prints in its effective configuration is documented in the
   file, so a new knob cannot ship undocumented.
4. Control: a misspelt key is rejected with the key named, so (1)-(2) prove
   the file was really checked.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

NODE = "packaging-test-node"  # fixed, so the host name does not matter
# A commented setting is "#key: ..." (top level) or "#  key: ..." (nested);
# prose comments are "# text".
SETTING = re.compile(r"^#(?=(  +)?[A-Za-z][A-Za-z0-9]*:)")


def check_config(wacd, path):
    return subprocess.run([wacd, "--check-config", "--config", path, "--node-name", NODE],
                          capture_output=True, text=True)


def effective(wacd, path, what):
    r = check_config(wacd, path)
    if r.returncode != 0:
        sys.exit(f"FAIL: wacd rejects {what}: {r.stderr.strip()}")
    return yaml.safe_load(r.stdout)


def key_paths(tree, prefix=""):
    for key, value in tree.items():
        path = prefix + key
        yield path
        if isinstance(value, dict):
            yield from key_paths(value, path + ".")


def write_temp(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    wacd, shipped = sys.argv[1], sys.argv[2]
    with open(shipped) as f:
        text = f.read()
    uncommented = "".join(SETTING.sub("", line) for line in text.splitlines(keepends=True))
    documented = yaml.safe_load(uncommented)
    if not isinstance(documented, dict):
        sys.exit("FAIL: uncommenting the settings does not give a YAML mapping")

    with tempfile.TemporaryDirectory() as tmp:
        as_shipped = effective(wacd, shipped, "the file as shipped")
        defaults = effective(wacd, write_temp(tmp, "empty.yaml", ""), "an empty file")
        everything = effective(wacd, write_temp(tmp, "all.yaml", uncommented), "the uncommented file")

        if as_shipped != defaults:
            sys.exit(f"FAIL: the shipped file changes the defaults: {as_shipped} != {defaults}")
        if everything != defaults:
            diff = {k: (everything.get(k), defaults.get(k)) for k in set(everything) | set(defaults)
                    if everything.get(k) != defaults.get(k)}
            sys.exit(f"FAIL: documented values differ from wacd's defaults (file, wacd): {diff}")
        missing = sorted(set(key_paths(defaults)) - set(key_paths(documented)))
        if missing:
            sys.exit(f"FAIL: keys wacd has but {shipped} does not document: {', '.join(missing)}")

        bad = write_temp(tmp, "bad.yaml", uncommented.replace("\nlogLevel:", "\nlogLevle:", 1))
        r = check_config(wacd, bad)
        if r.returncode == 0 or "logLevle" not in r.stderr:
            sys.exit(f"FAIL: control: a misspelt key was not rejected by name ({r.returncode}: {r.stderr})")

    print(f"ok: {shipped} documents all {len(list(key_paths(defaults)))} keys with wacd's defaults")


if __name__ == "__main__":
    main()
