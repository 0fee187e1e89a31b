"""HTTPS: a self-signed localhost certificate for development, and any certificate's fingerprint.

``--tls-self-signed`` makes a new key and certificate (ECDSA P-256, valid for ``localhost``,
``127.0.0.1`` and ``::1``, 30 days) in a private temporary folder each time the server starts, with
``cryptography`` (already a dependency, through PyJWT's crypto extra); the folder is removed when
the server stops. The banner prints the certificate's path and its SHA-256 fingerprint, to check
what a client is shown.

Example:
    >>> with self_signed() as (cert, key):  # doctest: +SKIP
    ...     fingerprint(cert)
    '3A:9F:...'
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 30
NAMES = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")


@contextlib.contextmanager
def self_signed() -> Iterator[tuple[Path, Path]]:
    """A new localhost certificate and its key as PEM files ``(cert, key)``, removed on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="jsonserve-tls-"))  # 0700: only this user reads the key
    try:
        cert, key = folder / "localhost.pem", folder / "localhost-key.pem"
        private = ec.generate_private_key(ec.SECP256R1())
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key.chmod(0o600)
        cert.write_bytes(_certificate(private).public_bytes(serialization.Encoding.PEM))
        yield cert, key
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _certificate(private: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jsonserve development")])  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    alternatives: list[x509.GeneralName] = [x509.DNSName(host) for host in NAMES]
    alternatives += [x509.IPAddress(ipaddress.ip_address(address)) for address in ADDRESSES]
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        # Its own CA, so that a client told to trust this file (verify=path) accepts it as the root.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(private, hashes.SHA256())
    )


def fingerprint(cert_file: Path) -> str:
    """The SHA-256 fingerprint of the first certificate in a PEM file, as ``AB:CD:...`` (browsers' form)."""
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()
