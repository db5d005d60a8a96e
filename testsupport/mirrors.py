"""Loopback mirrors for the tests: a CA made for the run, and testsupport.mirror_server started and stopped.

Used by tests/test_mirrors.py (the real Dockerfiles against loopback mirrors) and tests/test_reach.py
(doctor's TLS handshake against a server signed by a CA the build does or does not trust).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .constants import ROOT


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA made for this run and a certificate for 127.0.0.1 it signed: (ca.pem, cert.pem, key.pem)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n", encoding="utf-8")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
            "-subj", f"/CN=fate-builder test CA {secrets.token_hex(4)}")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


@dataclass
class Server:
    url: str
    log: Path
    pid: int

    def requests(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def start_server(root: Path, work: Path, name: str, tls: tuple[Path, Path] | None = None) -> Server:
    """testsupport.mirror_server serving `root` on loopback (TLS with `tls`: cert, key), in its own session."""
    log, port_file = work / f"{name}.log", work / f"{name}.port"
    command = [sys.executable, "-m", "testsupport.mirror_server", "--root", str(root), "--log", str(log),
               "--port-file", str(port_file)]
    if tls:
        command += ["--cert", str(tls[0]), "--key", str(tls[1])]
    process = subprocess.Popen(["setsid", *command], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if port_file.exists():
            break
        time.sleep(0.1)
    else:
        os.kill(process.pid, signal.SIGTERM)
        raise RuntimeError(f"the {name} mirror did not start")
    scheme = "https" if tls else "http"
    return Server(f"{scheme}://127.0.0.1:{port_file.read_text()}", log, process.pid)


def stop(server: Server) -> None:
    try:
        os.kill(server.pid, signal.SIGTERM)
        os.waitpid(server.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
