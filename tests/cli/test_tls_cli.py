"""HTTPS on a real socket (issue 17, point 2): ``--tls-self-signed`` (a client that trusts the new
certificate gets 200, one that does not is refused; the banner's fingerprint is the served
certificate's; HSTS only with ``--hsts``), and ``--tls-cert``/``--tls-key`` with ``--workers 2``.
"""

from __future__ import annotations

import hashlib
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from jsonserve.server.tls import self_signed
from tests.support.server import free_port

pytestmark = pytest.mark.e2e


def started(args: list[str], cwd: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """``jsonserve ARGS --port PORT`` with its banner in a file, once the banner's TLS lines are out."""
    out = cwd / f"stdout-{port}.txt"
    with out.open("wb") as stdout:
        command = [sys.executable, "-m", "jsonserve", *args, "--port", str(port)]
        process = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "SHA-256" not in out.read_text() or not accepts(port):  # workers bind after the banner
        assert process.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    return process, out


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def banner_tls(text: str) -> tuple[Path, str]:
    """The certificate path and the fingerprint the banner prints."""
    lines = text.splitlines()
    cert = next(line.split()[1] for line in lines if line.startswith("TLS"))
    fingerprint = next(line.split()[1] for line in lines if line.strip().startswith("SHA-256"))
    return Path(cert), fingerprint


def served_fingerprint(port: int) -> str:
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).digest().hex(":").upper()


def trusting(cert: Path) -> ssl.SSLContext:
    """A client context that trusts this certificate (and only it)."""
    return ssl.create_default_context(cafile=str(cert))


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(15)


def test_self_signed_certificate_trusted_or_refused_and_its_fingerprint(tmp_path: Path) -> None:
    port = free_port()
    process, out = started(["--tls-self-signed", "--hsts", "3600"], tmp_path, port)
    try:
        cert, fingerprint = banner_tls(out.read_text())
        url = f"https://localhost:{port}"
        assert f"Home      {url.replace('localhost', '127.0.0.1')}/" in out.read_text()
        trusted = httpx.get(url + "/posts/1", verify=trusting(cert))
        assert trusted.status_code == 200 and trusted.json()["id"] == 1
        assert trusted.headers["strict-transport-security"] == "max-age=3600"
        assert httpx.get(f"https://127.0.0.1:{port}/health", verify=trusting(cert)).status_code == 200  # the IP too
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(url + "/posts/1")  # the system's trust store does not know it
        assert served_fingerprint(port) == fingerprint
        assert len(fingerprint.split(":")) == 32
    finally:
        assert stop(process) == 0, out.read_text()
    assert not cert.exists() and not cert.parent.exists(), "the temporary certificate is removed at exit"


def test_given_certificate_with_two_workers(tmp_path: Path) -> None:
    with self_signed() as (cert, key):
        port = free_port()
        args = ["app.db", "--workers", "2", "--tls-cert", str(cert), "--tls-key", str(key)]
        process, out = started(args, tmp_path, port)
        try:
            assert banner_tls(out.read_text()) == (cert, served_fingerprint(port))
            with httpx.Client(verify=trusting(cert)) as client:
                answers = [client.get(f"https://localhost:{port}/posts/1") for _ in range(4)]
            assert [a.status_code for a in answers] == [200] * 4
            assert "strict-transport-security" not in answers[0].headers  # only with --hsts
        finally:
            assert stop(process) == 0, out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "c.pem"], "give both --tls-cert and --tls-key"),
        (["--tls-cert", "c.pem", "--tls-key", "c.pem", "--tls-self-signed"], "not both"),
        (["--tls-cert", "missing.pem", "--tls-key", "c.pem"], "does not exist"),
    ],
)
def test_tls_options_that_cannot_work(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "c.pem").write_text("not a certificate")
    result = subprocess.run(
        [sys.executable, "-m", "jsonserve", *args], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and message in " ".join(result.stderr.split()), result.stderr
