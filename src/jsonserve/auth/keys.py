"""The token signing key: an HMAC secret (HS256), or a private key (RS256, EdDSA) from ``--jwt-private-key``.

The HMAC secret comes from ``--jwt-secret-file``, ``JSONSERVE_JWT_SECRET`` or a generated key file:
256 random bits, written once (mode 0600, created exclusively so that several workers starting
together agree on one key) beside the data, so that a restart does not log everyone out. A secret
shorter than 32 bytes is refused: HS256 with a short key can be brute-forced.

A private key is a PEM file (PKCS#8 or the traditional format, unencrypted): RSA of 2048 bits or
more signs with RS256, Ed25519 with EdDSA. Anything else (a public key, an encrypted or smaller
key, another kind) is refused with :class:`WeakKey`. The public half is published as a JWK
(:meth:`SigningKey.jwk`), named by its RFC 7638 thumbprint, which every token's ``kid`` names too.

Example:
    >>> len(signing_key({"JSONSERVE_JWT_SECRET": "x" * 32}, None, None))
    32
    >>> SigningKey.hmac(b"x" * 32).algorithm
    'HS256'
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

# ``cryptography`` and ``jwt`` are imported where a private key is read: every server start imports
# this module (for :class:`WeakKey`), and they cost a large part of a start-up without ``--auth``.

from jsonserve._types import JSONValue

__all__ = [
    "ENV_SECRET",
    "MIN_KEY_BYTES",
    "MIN_RSA_BITS",
    "SigningKey",
    "WeakKey",
    "key_file_beside",
    "private_key",
    "signing_key",
]

ENV_SECRET = "JSONSERVE_JWT_SECRET"  # noqa: S105 - the variable's name, not a secret
MIN_KEY_BYTES = 32
MIN_RSA_BITS = 2048
KEY_FILE_SUFFIX = ".jwt-secret"
MAX_PEM_BYTES = 64 * 1024  # an RSA key of 16384 bits is about 13 KiB of PEM


class WeakKey(Exception):
    """The signing key is missing, unreadable, malformed or too weak; the server refuses to start."""


@dataclass(frozen=True)
class SigningKey:
    """One algorithm and its keys: ``private`` signs, ``public`` verifies (both the secret, for HMAC).

    ``key_id`` names an asymmetric key (its RFC 7638 thumbprint; ``None`` for an HMAC secret).
    """

    algorithm: str
    private: Any
    public: Any
    key_id: str | None = None

    @classmethod
    def hmac(cls, secret: bytes) -> SigningKey:
        """An HS256 key."""
        return cls("HS256", secret, secret)

    def jwk(self) -> dict[str, JSONValue] | None:
        """The public key as a JWK (RFC 7517) with ``kid``, ``alg`` and ``use``; ``None`` for a secret."""
        if self.key_id is None:
            return None
        return {**_public_jwk(self.algorithm, self.public), "kid": self.key_id, "alg": self.algorithm, "use": "sig"}


def private_key(path: Path) -> SigningKey:
    """The RS256 or EdDSA key of a PEM file; :class:`WeakKey` (why, in one line) for anything else."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        with path.open("rb") as file:
            pem = file.read(MAX_PEM_BYTES + 1)
    except OSError as error:
        raise WeakKey(f"cannot read the JWT private key {path}: {error.strerror}") from None
    try:
        key = load_pem_private_key(pem, password=None) if len(pem) <= MAX_PEM_BYTES else None
    except TypeError:  # cryptography's word for "it is encrypted"
        raise WeakKey(f"the JWT private key {path} is encrypted; give an unencrypted PEM file") from None
    except ValueError:
        key = None
    if isinstance(key, RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise WeakKey(f"the RSA key {path} has {key.key_size} bits; at least {MIN_RSA_BITS} are needed")
        return _asymmetric("RS256", key)
    if isinstance(key, Ed25519PrivateKey):
        return _asymmetric("EdDSA", key)
    what = "not a PEM private key" if key is None else "neither an RSA nor an Ed25519 key"
    raise WeakKey(f"the JWT private key {path} is {what}; use an RSA key (2048 bits or more) or an Ed25519 key")


def _asymmetric(algorithm: str, key: RSAPrivateKey | Ed25519PrivateKey) -> SigningKey:
    public = key.public_key()
    return SigningKey(algorithm, key, public, _thumbprint(_public_jwk(algorithm, public)))


def _public_jwk(algorithm: str, public: Any) -> dict[str, JSONValue]:
    from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

    codec: Any = OKPAlgorithm if algorithm == "EdDSA" else RSAAlgorithm
    jwk: dict[str, JSONValue] = codec.to_jwk(public, as_dict=True)
    return jwk


def _thumbprint(jwk: dict[str, JSONValue]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace; base64url without padding."""
    required = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("e", "kty", "n")
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def signing_key(env: Mapping[str, str], secret_file: Path | None, generated: Path | None) -> bytes:
    """The HMAC key: ``secret_file``'s contents, else ``env[ENV_SECRET]``, else the key in ``generated``.

    ``generated`` is created with a new random key when it does not exist; with ``None`` (the demo
    data, which is not kept either) the key lives only in memory.
    """
    if secret_file is not None:
        key = _read(secret_file)
        source = str(secret_file)
    elif env.get(ENV_SECRET):
        key, source = env[ENV_SECRET].encode("utf-8"), ENV_SECRET
    elif generated is None:
        return secrets.token_hex(32).encode("ascii")
    else:
        key, source = _generated(generated), str(generated)
    if len(key) < MIN_KEY_BYTES:
        raise WeakKey(f"the JWT signing key from {source} has {len(key)} bytes; at least {MIN_KEY_BYTES} are needed")
    return key


def key_file_beside(data: Path) -> Path:
    """Where the generated key of a data file lives: ``dir/.name.jwt-secret`` (a dot file beside the data)."""
    return data.with_name(f".{data.name}{KEY_FILE_SUFFIX}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except OSError as error:
        raise WeakKey(f"cannot read the JWT signing key from {path}: {error.strerror}") from None


def _written(path: Path) -> bytes:
    """The key in a file another process may be writing right now (workers starting together)."""
    for _attempt in range(50):
        key = _read(path)
        if key:
            return key
        time.sleep(0.02)
    return key


def _generated(path: Path) -> bytes:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _written(path)
    except OSError as error:
        raise WeakKey(f"cannot create the JWT signing key file {path}: {error.strerror}") from None
    key = secrets.token_hex(32).encode("ascii")  # 256 random bits, as text so the file can be copied around
    with os.fdopen(descriptor, "wb") as file:
        file.write(key + b"\n")
        file.flush()
        os.fsync(file.fileno())
    return key
