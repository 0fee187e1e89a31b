"""The token signing key: from ``JSONSERVE_JWT_SECRET``, ``--jwt-secret-file``, or a generated key file.

A generated key is 256 random bits, written once (mode 0600, created exclusively so that several
workers starting together agree on one key) to a file beside the data, so that a restart does not
log everyone out. A key shorter than 32 bytes is refused: HS256 with a short key can be brute-forced.

Example:
    >>> len(signing_key({"JSONSERVE_JWT_SECRET": "x" * 32}, None, None))
    32
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV_SECRET", "MIN_KEY_BYTES", "WeakKey", "key_file_beside", "signing_key"]

ENV_SECRET = "JSONSERVE_JWT_SECRET"  # noqa: S105 - the variable's name, not a secret
MIN_KEY_BYTES = 32
KEY_FILE_SUFFIX = ".jwt-secret"


class WeakKey(Exception):
    """The signing key is missing, unreadable or shorter than :data:`MIN_KEY_BYTES`; the server refuses to start."""


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
