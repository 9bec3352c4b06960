"""wacd's files in its state directory go bad: a damaged DNS cache file at
start, and a full disk under the state directory while wacd runs.

Environmental errors are logged and counted, and wacd keeps going: it keeps
enforcing and learning from the kernel's sets and its own memory, never
replaces a good file with a partial one (temp file + rename), never crashes,
and catches up once space returns.  Two files live there: the DNS cache
(`dns-cache.json`, written every `dns.cacheSaveIntervalSeconds`) and the
resources wacd accepted (`resources.db`, a snapshot, and its journal
`resources.db.journal`, written at every change).  See dnslab.py for the
DNS lab's layout.
"""

import errno
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

import wacnet
from dnslab import DnsLab, ResolvFiles, allow_domains, connect_ok, policy, wait_for
from test_metrics import scrape

CACHE = "dns-cache.json"
STATE = "resources.db"


@pytest.fixture
def resolv_files():
    files = ResolvFiles()
    yield files
    files.cleanup()


def namespace_yaml(name: str, annotation_bytes: int = 0) -> str:
    """A Namespace; with a large annotation its journal record needs pages of
    its own, so writing it fails on a full disk (a small one may still fit in
    the journal's last page)."""
    meta = {"name": name}
    if annotation_bytes:
        meta["annotations"] = {"padding": "x" * annotation_bytes}
    return wacnet.to_yaml({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})


def namespaces(lab) -> list:
    return [ns["metadata"]["name"] for ns in lab.wacd.get("namespace")["items"]]


def status(lab) -> dict:
    return json.loads(lab.wacd.ctl("status", "-o", "json").stdout)


def log_since(lab, offset: int) -> str:
    return lab.wacd.log_path.read_text(errors="replace")[offset:]


def log_size(lab) -> int:
    return len(lab.wacd.log_path.read_text(errors="replace"))


def learned(lab, name: str) -> list:
    names = {n["name"]: n for n in lab.dns_report().get("names", [])}
    return [a["address"] for a in names.get(name, {}).get("addresses", [])]


# ---------------------------------------------------------------------------
# A damaged DNS cache file at start


def damaged_contents(good: bytes) -> dict:
    return {
        "truncated": good[: len(good) // 2],
        "garbage": bytes(range(256)) * 4,
        "empty": b"",
        "another version": b'{"version": 99, "saved_at": 0, "entries": []}\n',
    }


def test_damaged_dns_cache_file_is_logged_counted_and_skipped(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    lab.wacd.apply(policy(allow_domains("api.example.test", "other.example.test")))
    api, other = lab.records["api.example.test"], lab.records["other.example.test"]
    assert lab.lookup_and_connect("api.example.test")["ok"]
    lab.wacd.stop()  # SIGTERM saves the cache
    cache = lab.wacd.state_dir / CACHE
    good = cache.read_bytes()
    assert b"api.example.test" in good

    for what, contents in damaged_contents(good).items():
        cache.write_bytes(contents)
        offset = log_size(lab)
        lab.wacd.start()
        log = log_since(lab, offset)
        assert f"DNS cache file {cache} is corrupt or truncated" in log, f"{what}: {log}"
        metrics = scrape(lab.node)
        assert metrics["wac_dns_cache_load_errors_total"] == 1, f"{what}: {metrics}"
        dns = status(lab)["dns"]
        assert int(dns.get("cacheLoadErrors", 0)) == 1 and str(cache) in dns.get("lastCacheError", ""), dns
        assert str(cache) in lab.wacd.status(), f"{what}: wacctl status does not name the file"
        # The kernel still holds what was learned before: no lookup needed.
        assert connect_ok(lab, api), f"{what}: the address learned before the restart is refused"
        # ... and learning goes on.
        assert lab.lookup_and_connect("other.example.test")["ok"], what
        assert learned(lab, "other.example.test") == [other], what
        assert lab.wacd.running, f"{what}: wacd exited"
        lab.wacd.stop()
        # The next save replaced the damaged file with a good one.
        saved = json.loads(cache.read_text())
        assert "other.example.test" in [e["key"] for e in saved["entries"]], f"{what}: {saved}"


# ---------------------------------------------------------------------------
# The state directory on a full disk


@pytest.fixture
def tiny_state_dir(topo):
    """A 64 KiB tmpfs for wacd's state directory; unmounted after the test
    (after wacd stopped), also when the test fails."""
    path = Path(tempfile.mkdtemp(prefix="wac-tiny-state-"))
    try:
        wacnet.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "wac-tiny-state", str(path)])
        yield path
    finally:
        for wacd in topo.wacds:
            wacd.stop()
        if os.path.ismount(path) and subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
        path.rmdir()


def fill(directory: Path) -> Path:
    """Writes a file until the file system is full; returns it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


def parses_as_cache(path: Path) -> list:
    return [e["key"] for e in json.loads(path.read_text())["entries"]]


def test_full_disk_under_the_state_dir(topo, resolv_files, tiny_state_dir):
    lab = DnsLab(topo, resolv_files, dns_settings={"cacheSaveIntervalSeconds": 1}, state_dir=tiny_state_dir)
    cache, state = tiny_state_dir / CACHE, tiny_state_dir / STATE
    lab.wacd.apply(policy(allow_domains("api.example.test", "other.example.test", "*.wild.test")))
    api, other, wild = (lab.records[n] for n in ("api.example.test", "other.example.test", "a.b.wild.test"))
    assert lab.lookup_and_connect("api.example.test")["ok"]
    wait_for(lambda: cache.exists() and "api.example.test" in parses_as_cache(cache), within=5)
    good_cache, good_state = cache.read_bytes(), state.read_bytes()

    filler = fill(tiny_state_dir)
    offset = log_size(lab)
    # wacd goes on: it enforces, learns and accepts changes with nowhere to write them.
    assert lab.lookup_and_connect("other.example.test")["ok"]
    lab.wacd.apply(namespace_yaml("while-full", annotation_bytes=16384))
    assert connect_ok(lab, api)
    assert wait_for(lambda: int(lab.dns_stats().get("cacheSaveErrors", 0)) >= 2, within=10), lab.dns_stats()

    # ... and says so: status, metrics, log.
    dns, state_file = lab.dns_stats(), status(lab).get("stateFile", {})
    assert "No space left on device" in dns.get("lastCacheError", ""), dns
    assert state_file.get("behind") and int(state_file.get("writeErrors", 0)) >= 1, state_file
    assert "No space left on device" in state_file.get("lastError", ""), state_file
    metrics = scrape(lab.node)
    assert metrics['wac_dns_cache_saves_total{result="error"}'] >= 2, metrics
    assert metrics["wac_state_file_behind"] == 1, metrics
    assert metrics['wac_state_file_writes_total{result="error"}'] >= 1, metrics
    text = lab.wacd.status()
    assert "BEHIND" in text and str(state) in text, text
    log = log_since(lab, offset)
    assert f"{cache}" in log and f"{state}" in log and "No space left on device" in log, log
    # One line per failing file while the error stays the same, not one per attempt.
    assert log.count("No space left on device") <= 4, log

    # The good files are untouched, and no temp file is left behind.
    assert cache.read_bytes() == good_cache and state.read_bytes() == good_state
    left = {p.name for p in tiny_state_dir.iterdir()}
    assert left <= {CACHE, STATE, STATE + ".journal", "filler"}, left
    assert lab.wacd.running

    # Space returns: the next change and the next cache save catch up.
    filler.unlink()
    lab.wacd.apply(namespace_yaml("after-full"))
    assert lab.lookup_and_connect("a.b.wild.test")["ok"]
    assert wait_for(lambda: not status(lab).get("stateFile", {}).get("behind"), within=15), status(lab)
    assert wait_for(lambda: {"other.example.test", "a.b.wild.test"} <= set(parses_as_cache(cache)), within=5)
    assert scrape(lab.node)["wac_state_file_behind"] == 0
    assert "written again" in log_since(lab, offset)

    # Nothing accepted while the disk was full is lost by a crash now.
    lab.wacd.kill()
    lab.wacd.start()
    assert {"while-full", "after-full"} <= set(namespaces(lab)), namespaces(lab)
    for addr in (api, other, wild):
        assert connect_ok(lab, addr), addr


def test_full_disk_at_start(topo, resolv_files, tiny_state_dir):
    """wacd starting on a full state directory: it starts, enforces what it
    loaded, accepts changes, and writes them once there is room."""
    lab = DnsLab(topo, resolv_files, dns_settings={"cacheSaveIntervalSeconds": 1}, state_dir=tiny_state_dir)
    lab.wacd.apply(policy(allow_domains("api.example.test")))
    assert lab.lookup_and_connect("api.example.test")["ok"]
    lab.wacd.stop()
    filler = fill(tiny_state_dir)
    offset = log_size(lab)
    lab.wacd.start()
    assert "No space left on device" in log_since(lab, offset)  # folding the journal in at start
    lab.wacd.apply(namespace_yaml("at-start", annotation_bytes=16384))
    assert connect_ok(lab, lab.records["api.example.test"])
    assert status(lab).get("stateFile", {}).get("behind"), status(lab)
    filler.unlink()
    # No further change: the retry catches up on its own.
    assert wait_for(lambda: not status(lab).get("stateFile", {}).get("behind"), within=15), status(lab)
    lab.wacd.kill()
    lab.wacd.start()
    assert "at-start" in namespaces(lab)
