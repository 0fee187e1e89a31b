"""Passwords, tokens and the signing key: the refusals the auth contract names, one by one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import bcrypt
import jwt
import pytest
from argon2 import PasswordHasher

from jsonserve.auth.keys import ENV_SECRET, WeakKey, key_file_beside, signing_key
from jsonserve.auth.passwords import Passwords
from jsonserve.auth.tokens import Tokens
from jsonserve.errors import InvalidToken

KEY = b"k" * 32
NOW = 1_700_000_000.0
# Cheap argon2 parameters: these tests are about behaviour; the OWASP defaults are checked once below.
FAST = Passwords(memory_kib=1024, time_cost=1)


def test_new_hashes_are_argon2id_with_owasp_parameters() -> None:
    stored = Passwords().hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_argon2_hashes_verify_and_are_salted() -> None:
    first, second = FAST.hash("pw-12345"), FAST.hash("pw-12345")
    assert first != second
    assert FAST.verify(first, "pw-12345")
    assert not FAST.verify(first, "pw-12346")
    assert not FAST.needs_upgrade(first)


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_hashes_verify_and_ask_for_an_upgrade(prefix: str) -> None:
    stored = prefix + bcrypt.hashpw(b"bcrypt-pw", bcrypt.gensalt(rounds=4)).decode()[4:]
    assert FAST.verify(stored, "bcrypt-pw")
    assert not FAST.verify(stored, "bcrypt-px")
    assert FAST.needs_upgrade(stored)


def test_weaker_argon2_parameters_ask_for_an_upgrade() -> None:
    assert Passwords().needs_upgrade(FAST.hash("pw-12345"))


@pytest.mark.parametrize("stored", ["", "plain text", "$2b$garbage", "$argon2id$garbage"])
def test_a_hash_of_no_known_kind_never_verifies(stored: str) -> None:
    assert not FAST.verify(stored, "plain text")
    assert FAST.needs_upgrade(stored)


def test_the_dummy_verification_always_fails() -> None:
    assert not FAST.verify_dummy("jsonserve: no such user")


@pytest.mark.parametrize("legacy", [False, True])
def test_a_failed_verification_does_the_same_work_for_every_kind_of_user(
    monkeypatch: pytest.MonkeyPatch, legacy: bool
) -> None:
    """Unknown email, argon2id user, bcrypt user: with bcrypt hashes stored, each verifies one hash of each kind."""
    passwords = Passwords(memory_kib=1024, time_cost=1)
    calls: list[str] = []
    real_bcrypt, real_argon2 = bcrypt.checkpw, PasswordHasher.verify

    def spy_bcrypt(password: bytes, hashed: bytes) -> bool:
        calls.append("bcrypt")
        return real_bcrypt(password, hashed)

    def spy_argon2(hasher: PasswordHasher, hashed: str, password: str) -> bool:
        calls.append("argon2")
        return real_argon2(hasher, hashed, password)

    monkeypatch.setattr("jsonserve.auth.passwords.bcrypt.checkpw", spy_bcrypt)
    monkeypatch.setattr(PasswordHasher, "verify", spy_argon2)
    legacy_hash = bcrypt.hashpw(b"right-password", bcrypt.gensalt(rounds=4)).decode()
    for stored in (None, passwords.hash("right-password"), legacy_hash):
        calls.clear()
        assert not passwords.verify_uniform(stored, "wrong-password", legacy=legacy)
        expected = ["argon2", "bcrypt"] if legacy else ["bcrypt" if stored == legacy_hash else "argon2"]
        assert sorted(calls) == expected, (stored, calls)
        if stored is not None:
            assert passwords.verify_uniform(stored, "right-password", legacy=legacy)
    assert passwords._bcrypt_dummy().startswith("$2b$10$"), "json-server-auth's cost"


def tokens(now: float = NOW, ttl: int = 3600) -> Tokens:
    return Tokens(KEY, ttl=ttl, clock=lambda: now, new_id=lambda: "jti-1")


def test_a_token_round_trips_with_its_claims() -> None:
    claims = tokens().verify(tokens().issue("7", "ada@example.com", 3))
    assert (claims.subject, claims.email, claims.version, claims.token_id, claims.expires) == (
        "7", "ada@example.com", 3, "jti-1", int(NOW) + 3600,
    )  # fmt: skip
    payload = jwt.decode(tokens().issue("7", None, 0), KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert set(payload) == {"sub", "email", "iat", "exp", "iss", "jti", "ver", "typ"}


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sub": "7", "iat": int(NOW), "exp": int(NOW) + 60, "iss": "jsonserve", "jti": "x", "ver": 0, "typ": "access",
    }  # fmt: skip
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def unsigned(payload: dict[str, object], alg: str) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload)}."


PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh
kd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ
0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdg
cKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbc
mwIDAQAB
-----END PUBLIC KEY-----"""


def signed(payload: dict[str, object], alg: str, secret: bytes) -> str:
    """A token signed by hand with HMAC-SHA256, whatever its header says (PyJWT refuses to make these)."""
    head = unsigned(payload, alg).rstrip(".")
    signature = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return f"{head}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


REFUSED = {
    "forged with another key": jwt.encode(claims(), b"s" * 32, algorithm="HS256"),
    "json-server-auth's hard-coded secret": signed(claims(), "HS256", b"JWT_SECRET_KEY"),
    "alg none": unsigned(claims(), "none"),
    "alg None": unsigned(claims(), "None"),
    "HS384, not on the list": jwt.encode(claims(), KEY + KEY, algorithm="HS384"),
    "expired": jwt.encode(claims(exp=int(NOW) - 1), KEY, algorithm="HS256"),
    "expiring now (no leeway)": jwt.encode(claims(exp=int(NOW)), KEY, algorithm="HS256"),
    "no exp": jwt.encode(claims(exp=None), KEY, algorithm="HS256"),
    "no iat": jwt.encode(claims(iat=None), KEY, algorithm="HS256"),
    "no jti": jwt.encode(claims(jti=None), KEY, algorithm="HS256"),
    "no sub": jwt.encode(claims(sub=None), KEY, algorithm="HS256"),
    "no typ": jwt.encode(claims(typ=None), KEY, algorithm="HS256"),
    "a refresh token": jwt.encode(claims(typ="refresh", fam="x"), KEY, algorithm="HS256"),
    "no iss": jwt.encode(claims(iss=None), KEY, algorithm="HS256"),
    "another issuer": jwt.encode(claims(iss="json-server-auth"), KEY, algorithm="HS256"),
    "future nbf": jwt.encode(claims(nbf=int(NOW) + 1), KEY, algorithm="HS256"),
    "issued in the future": jwt.encode(claims(iat=int(NOW) + 5), KEY, algorithm="HS256"),
    "numeric sub": jwt.encode(claims(sub=7), KEY, algorithm="HS256"),
    "not a JWT": "not.a.jwt",
    "empty": "",
}


@pytest.mark.parametrize("token", REFUSED.values(), ids=REFUSED.keys())
def test_refused_tokens(token: str) -> None:
    with pytest.raises(InvalidToken):
        tokens().verify(token)


def test_hs_rs_confusion_is_refused() -> None:
    # The attack: a server that verifies RS256 with a public key is sent HS256 signed with that
    # public key as the HMAC secret. Our key is a secret and RS256 is not on the list: both fail,
    # even when the server's own key were that PEM text.
    for token in (signed(claims(), "HS256", PUBLIC_PEM), signed(claims(), "RS256", PUBLIC_PEM)):
        with pytest.raises(InvalidToken):
            tokens().verify(token)
    with pytest.raises(InvalidToken):
        Tokens(PUBLIC_PEM, clock=lambda: NOW).verify(signed(claims(), "RS256", PUBLIC_PEM))


def test_a_hand_signed_token_with_our_key_is_accepted() -> None:
    # The control of the test above: the hand signing is right, so only the key or the alg refuses.
    assert tokens().verify(signed(claims(), "HS256", KEY)).subject == "7"


def test_a_token_with_a_nbf_in_the_past_is_accepted() -> None:
    assert tokens().verify(jwt.encode(claims(nbf=int(NOW)), KEY, algorithm="HS256")).subject == "7"


def test_a_token_expires_after_its_ttl() -> None:
    token = tokens(ttl=10).issue("7", None, 0)
    assert tokens(NOW + 9.9).verify(token).subject == "7"
    with pytest.raises(InvalidToken):
        tokens(NOW + 10).verify(token)


def test_the_key_comes_from_the_file_then_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"f" * 40 + b"\n")
    generated = tmp_path / "generated"
    assert signing_key({ENV_SECRET: "e" * 32}, secret, generated) == b"f" * 40
    assert signing_key({ENV_SECRET: "e" * 32}, None, generated) == b"e" * 32
    assert not generated.exists()


@pytest.mark.parametrize("source", ["env", "file"])
def test_a_short_key_is_refused(tmp_path: Path, source: str) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"f" * 31)
    with pytest.raises(WeakKey, match="31 bytes"):
        signing_key({ENV_SECRET: "e" * 31}, secret if source == "file" else None, None)


def test_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WeakKey, match="cannot read"):
        signing_key({}, tmp_path / "nope", None)


def test_a_generated_key_is_kept_with_mode_0600(tmp_path: Path) -> None:
    path = key_file_beside(tmp_path / "db.json")
    assert path == tmp_path / ".db.json.jwt-secret"
    first = signing_key({}, None, path)
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signing_key({}, None, path) == first  # a restart keeps everyone logged in


def test_without_a_place_for_it_the_key_is_random_and_kept_in_memory() -> None:
    assert signing_key({}, None, None) != signing_key({}, None, None)


def test_the_throttle_blocks_after_the_limit_then_forgets() -> None:
    from jsonserve.auth.throttle import Throttle

    now = [0.0]
    throttle = Throttle(limit=3, window=60.0, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("ada")
    assert throttle.retry_after("ada") is None
    throttle.failed("ada")
    assert throttle.retry_after("ada") == 60
    assert throttle.retry_after("linus") is None
    now[0] = 59.5
    assert throttle.retry_after("ada") == 1
    now[0] = 60.0
    assert throttle.retry_after("ada") is None
    throttle.failed("ada")
    throttle.reset("ada")
    assert throttle.retry_after("ada") is None


def test_the_throttle_stays_bounded_under_rotating_keys() -> None:
    from jsonserve.auth.throttle import Throttle

    throttle = Throttle(limit=1, window=60.0, clock=lambda: 0.0, max_keys=10)
    for key in range(100):
        throttle.failed(f"address:{key}")
    assert len(throttle._failures) <= 10
    assert throttle.retry_after("address:99") == 60
