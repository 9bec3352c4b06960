"""Configuration reload: SIGHUP and `wacctl reload` apply what can change
while wacd runs (log level, allowed client subjects, the metrics address)
and report, without changing them, the keys that need a restart; an invalid
file changes nothing."""
import signal
import time
import urllib.error

import pytest

import wacnet
import wacpki
from test_control_channel import ADDRESS, tcp_ctl
from test_metrics import POLICY, scrape


class ConfiguredWacd(wacnet.Wacd):
    """A wacd whose log level comes from its config file, not a flag."""

    def command(self) -> list:
        cmd = super().command()
        at = cmd.index("--log-level")
        return cmd[:at] + cmd[at + 2:]


def write_config(path, *, subjects, log_level="info", metrics="127.0.0.1:9475", restart_only=False,
                 pki=None) -> None:
    """restart_only: also change two keys wacd only reads at start (the
    harness sets nodeName and the interface prefixes by flag, which win)."""
    lines = [f"logLevel: {log_level}", f'metricsAddress: "{metrics}"']
    if restart_only:
        lines += ["endpointToHostAction: Drop", "verdictMark: 0x20000"]
    lines += ["listen:", f"  address: {ADDRESS}", f"  tlsCert: {pki['server'].cert}",
              f"  tlsKey: {pki['server'].key}", f"  clientCA: {pki['ca'].cert}",
              f"  allowedSubjects: [{', '.join(subjects)}]"]
    path.write_text("\n".join(lines) + "\n")


def wait_for_log(wacd, text: str, after: int = 0, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in wacd.log_path.read_text()[after:]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in wacd's log:\n{wacd.log_tail()}")
        time.sleep(0.05)


@pytest.fixture
def pki(tmp_path):
    ca = wacpki.Authority(tmp_path / "pki", "wac-test-ca")
    return {"ca": ca, "server": ca.issue("server", "/CN=wacd", san="IP:127.0.0.1"),
            "controller": ca.issue("controller", "/CN=controller"),
            "newcomer": ca.issue("newcomer", "/CN=newcomer")}


def test_sighup_and_wacctl_reload(topo, tmp_path, pki):
    node = topo.add_node()
    srv = topo.add_pod("default", "srv", labels={"app": "srv"})
    config = tmp_path / "wacd.yaml"
    write_config(config, subjects=["controller"], pki=pki)
    wacd = ConfiguredWacd(node, topo.workdir / "wacd-reload", extra_args=["-c", str(config)])
    topo.wacds.append(wacd)
    wacd.start()
    ca = pki["ca"].cert
    assert tcp_ctl(wacd, "status", identity=pki["controller"], ca=ca).returncode == 0
    assert "PERMISSION_DENIED" in tcp_ctl(wacd, "status", identity=pki["newcomer"], ca=ca).stderr
    assert scrape(node)["wac_agent_up"] == 1
    wacd.apply(wacnet.cluster_yaml([srv]) + "---" + POLICY)  # pod chains use the verdict mark

    # runtime keys and restart-only keys change together
    write_config(config, subjects=["controller", "newcomer"], log_level="debug", metrics="127.0.0.1:9100",
                 restart_only=True, pki=pki)
    mark = len(wacd.log_path.read_text())
    wacd.kill(signal.SIGHUP)
    wait_for_log(wacd, "reload: endpointToHostAction, verdictMark changed but only take effect at restart",
                 after=mark)
    assert wacd.running, "SIGHUP must not stop wacd"
    log = wacd.log_path.read_text()[mark:]
    for key in ("logLevel is now debug", "metricsAddress is now 127.0.0.1:9100", "listen.allowedSubjects is now"):
        assert key in log, log
    assert tcp_ctl(wacd, "status", identity=pki["newcomer"], ca=ca).returncode == 0
    assert scrape(node, "127.0.0.1:9100")["wac_agent_up"] == 1
    with pytest.raises(urllib.error.URLError):
        scrape(node)
    # the debug level is in effect: an apply now logs its sync at debug
    mark = len(wacd.log_path.read_text())
    wacd.apply(POLICY.replace("srv-from-clients", "second-policy"))
    wait_for_log(wacd, "[debug] dataplane: transaction sync", after=mark)
    # what needs a restart was left alone: pod-to-host is still accepted, the mark is the old one
    ruleset = wacd.ruleset()
    assert "0x00010000" in ruleset and "0x00020000" not in ruleset, ruleset

    # wacctl reload: nothing new to apply; the restart-only keys still differ
    out = wacd.ctl("reload").stdout
    assert out == ("needs restart (running value kept): endpointToHostAction\n"
                   "needs restart (running value kept): verdictMark\n"), out

    # an invalid file: refused, and nothing changes
    config.write_text(config.read_text().replace("logLevel: debug", "logLevel: loud")
                      .replace("newcomer", "controller"))
    bad = wacd.ctl("reload", check=False)
    assert bad.returncode == 1
    assert "FAILED_PRECONDITION" in bad.stderr and "logLevel: expected one of" in bad.stderr, bad.stderr
    mark = len(wacd.log_path.read_text())
    wacd.kill(signal.SIGHUP)
    wait_for_log(wacd, "reload: invalid configuration, nothing changed", after=mark)
    assert tcp_ctl(wacd, "status", identity=pki["newcomer"], ca=ca).returncode == 0

    # metrics can be turned off (and the subject list narrowed) at runtime
    write_config(config, subjects=["controller"], metrics="", restart_only=True, pki=pki)
    out = wacd.ctl("reload").stdout
    assert "applied: listen.allowedSubjects\n" in out and "applied: metricsAddress\n" in out, out
    assert "applied: logLevel\n" in out, out
    with pytest.raises(urllib.error.URLError):
        scrape(node, "127.0.0.1:9100")
    assert "PERMISSION_DENIED" in tcp_ctl(wacd, "status", identity=pki["newcomer"], ca=ca).stderr
