"""wacpki: throwaway certificate authorities and certificates for the
control-channel tests, made with the `openssl` command in a temp dir."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import wacnet


@dataclasses.dataclass
class Identity:
    cert: Path
    key: Path


def _ec_key_args(key: Path) -> list:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key)]


class Authority:
    """A CA that signs server and client certificates, valid for one day."""

    def __init__(self, directory: Path, name: str):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.cert = self.dir / f"{name}.crt"
        self.key = self.dir / f"{name}.key"
        wacnet.run(["openssl", "req", "-x509", *_ec_key_args(self.key), "-out", str(self.cert),
                    "-subj", f"/CN={name}", "-days", "1"])
        self._serial = 0

    def issue(self, file_stem: str, subject: str, san: str = "") -> Identity:
        """A certificate for `subject` ("/O=ops/CN=controller"); `san`, e.g.
        "IP:127.0.0.1,DNS:wacd", for servers."""
        key, csr, cert = (self.dir / f"{file_stem}.{ext}" for ext in ("key", "csr", "crt"))
        wacnet.run(["openssl", "req", "-new", *_ec_key_args(key), "-out", str(csr), "-subj", subject])
        self._serial += 1
        cmd = ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
               "-set_serial", str(self._serial), "-days", "1", "-out", str(cert)]
        if san:
            ext = self.dir / f"{file_stem}.ext"
            ext.write_text(f"subjectAltName={san}\n")
            cmd += ["-extfile", str(ext)]
        wacnet.run(cmd)
        key.chmod(0o600)
        return Identity(cert, key)
