"""The TCP control channel: mutual TLS with a client CA and an allowed
subject list.  A client with the right certificate works; without one, with
one from another CA, or with a subject not on the list it is refused; the
unix socket keeps working; plaintext exists only with `insecure: true`."""
import subprocess

import pytest

import wacnet
import wacpki

ADDRESS = "127.0.0.1:9476"

NAMESPACE = wacnet.namespace_yaml("tls-test")


@pytest.fixture
def pki(tmp_path):
    ca = wacpki.Authority(tmp_path / "pki", "wac-test-ca")
    other = wacpki.Authority(tmp_path / "pki", "other-ca")
    return {
        "ca": ca,
        "other": other,
        "server": ca.issue("server", "/CN=wacd", san="IP:127.0.0.1,DNS:wacd.test"),
        "controller": ca.issue("controller", "/O=ops/CN=controller"),
        "auditor": ca.issue("auditor", "/O=audit/CN=auditor"),
        "intruder": ca.issue("intruder", "/CN=intruder"),
        "stranger": other.issue("stranger", "/O=ops/CN=controller"),  # right name, wrong CA
    }


def write_config(path, **listen) -> str:
    lines = ["listen:"] + [f"  {k}: {v}" for k, v in listen.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def tls_config(tmp_path, pki, allowed="[controller, \"CN=auditor,O=audit\"]") -> str:
    return write_config(tmp_path / "wacd.yaml", address=ADDRESS, tlsCert=pki["server"].cert,
                        tlsKey=pki["server"].key, clientCA=pki["ca"].cert, allowedSubjects=allowed)


def tcp_ctl(wacd, *args, identity=None, ca=None, extra=(), input=None) -> subprocess.CompletedProcess:
    """wacctl over TCP from inside the node's namespace."""
    cmd = ["ip", "netns", "exec", wacd.node.netns, wacd.wacctl_bin, "--timeout", "10", "--server", ADDRESS]
    if ca:
        cmd += ["--tls-ca", str(ca)]
    if identity:
        cmd += ["--tls-cert", str(identity.cert), "--tls-key", str(identity.key)]
    cmd += [*extra, *args]
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=30)


def test_mutual_tls_accepts_only_allowed_clients_of_the_ca(topo, tmp_path, pki):
    node = topo.add_node()
    wacd = topo.start_wacd(node, extra_args=["-c", tls_config(tmp_path, pki)])
    ca = pki["ca"].cert

    ok = tcp_ctl(wacd, "apply", "-f", "-", identity=pki["controller"], ca=ca, input=NAMESPACE)
    assert ok.returncode == 0, ok.stderr
    assert "tls-test" in wacd.ctl("get", "namespace").stdout  # visible through the socket too
    # the whole subject works as an entry too
    auditor = tcp_ctl(wacd, "status", identity=pki["auditor"], ca=ca)
    assert auditor.returncode == 0, auditor.stderr

    no_cert = tcp_ctl(wacd, "status", ca=ca)
    assert no_cert.returncode == 1 and "UNAVAILABLE" in no_cert.stderr, no_cert.stderr

    stranger = tcp_ctl(wacd, "status", identity=pki["stranger"], ca=ca)
    assert stranger.returncode == 1 and "UNAVAILABLE" in stranger.stderr, stranger.stderr

    intruder = tcp_ctl(wacd, "apply", "-f", "-", identity=pki["intruder"], ca=ca,
                       input=wacnet.namespace_yaml("intruded"))
    assert intruder.returncode == 1
    assert "PERMISSION_DENIED" in intruder.stderr and "CN=intruder" in intruder.stderr, intruder.stderr
    assert "intruded" not in wacd.ctl("get", "namespace").stdout
    assert "refused a call from client certificate \"CN=intruder\"" in wacd.log_path.read_text()

    # the client checks the server too: a server this CA did not sign is refused
    wrong_server = tcp_ctl(wacd, "status", identity=pki["controller"], ca=pki["other"].cert)
    assert wrong_server.returncode == 1 and "UNAVAILABLE" in wrong_server.stderr

    plaintext = tcp_ctl(wacd, "status", extra=["--insecure"])
    assert plaintext.returncode == 1

    wacd.ctl("status")  # the unix socket is unaffected


def test_server_name_is_checked_and_can_be_overridden(topo, tmp_path, pki):
    node = topo.add_node()
    wacd = topo.start_wacd(node, extra_args=["-c", tls_config(tmp_path, pki, allowed="[]")])
    ca = pki["ca"].cert
    named = tcp_ctl(wacd, "status", identity=pki["intruder"], ca=ca, extra=["--tls-server-name", "wacd.test"])
    assert named.returncode == 0, named.stderr  # an empty list admits anyone the CA signed
    wrong = tcp_ctl(wacd, "status", identity=pki["controller"], ca=ca, extra=["--tls-server-name", "other.test"])
    assert wrong.returncode == 1 and "UNAVAILABLE" in wrong.stderr


def test_plaintext_tcp_only_when_insecure_and_loudly(topo, tmp_path):
    node = topo.add_node()
    config = write_config(tmp_path / "wacd.yaml", address=ADDRESS, insecure="true")
    wacd = topo.start_wacd(node, extra_args=["-c", config])
    assert "WITHOUT TLS or client authentication" in wacd.log_path.read_text()
    ok = tcp_ctl(wacd, "status", extra=["--insecure"])
    assert ok.returncode == 0, ok.stderr


def test_listener_without_tls_files_is_rejected_at_start(topo, tmp_path, pki):
    node = topo.add_node()
    config = write_config(tmp_path / "wacd.yaml", address=ADDRESS)
    wacd = wacnet.Wacd(node, topo.workdir / "wacd-notls", extra_args=["-c", config])
    proc = wacnet.run(wacd.command(), check=False)
    assert proc.returncode == 2
    assert "listen.tlsCert: required for the TCP listener (mutual TLS)" in proc.stderr

    # a key that is not the certificate's: wacd says which file, and does not start
    bad = write_config(tmp_path / "bad.yaml", address=ADDRESS, tlsCert=pki["server"].cert,
                       tlsKey=pki["controller"].key, clientCA=pki["ca"].cert)
    wacd = wacnet.Wacd(node, topo.workdir / "wacd-badkey", extra_args=["-c", bad])
    proc = wacnet.run(wacd.command(), check=False)
    assert proc.returncode == 1
    assert f"listen.tlsKey: {pki['controller'].key} is not the key of the certificate" in proc.stdout + proc.stderr


def test_wacctl_flag_mistakes_are_usage_errors(topo, tmp_path, pki):
    node = topo.add_node()
    wacd = topo.start_wacd(node)
    assert tcp_ctl(wacd, "status").returncode == 2  # --server without --tls-ca or --insecure
    proc = wacd.ctl("--tls-ca", str(pki["ca"].cert), "status", check=False)
    assert proc.returncode == 2 and "need --server" in proc.stderr
