"""Refresh tokens, RS256/EdDSA keys and the refresh token sessions: each refusal the auth contract names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jsonserve.auth import sessions
from jsonserve.auth.keys import SigningKey, WeakKey, private_key
from jsonserve.auth.sessions import MAX_FAMILIES, REUSE_GRACE, Verdict
from jsonserve.auth.tokens import Claims, Tokens
from jsonserve.errors import InvalidToken

NOW = 1_700_000_000.0
PEM = serialization.Encoding.PEM
PKCS8 = serialization.PrivateFormat.PKCS8
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def pem(key: Any, encryption: Any = None) -> bytes:
    data: bytes = key.private_bytes(PEM, PKCS8, encryption or serialization.NoEncryption())
    return data


def public_pem(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SigningKey]:
    folder = tmp_path_factory.mktemp("keys")
    (folder / "rsa.pem").write_bytes(pem(RSA_KEY))
    (folder / "ed.pem").write_bytes(pem(ED_KEY))
    return {"RS256": private_key(folder / "rsa.pem"), "EdDSA": private_key(folder / "ed.pem")}


def tokens(key: bytes | SigningKey = b"k" * 32, now: float = NOW, refresh_ttl: int = 600) -> Tokens:
    ids = iter(f"id-{n}" for n in range(100))
    return Tokens(key, ttl=60, refresh_ttl=refresh_ttl, clock=lambda: now, new_id=lambda: next(ids))


# -- access and refresh tokens ----------------------------------------------------------------


def test_refresh_tokens_carry_their_family_and_are_never_access_tokens() -> None:
    issuer = tokens()
    first, claims = issuer.issue_refresh("7", 2)
    assert claims == Claims("7", None, 2, "id-0", int(NOW) + 600, "id-0")  # a new family is named by its first token
    assert issuer.verify_refresh(first) == claims
    second, next_claims = issuer.issue_refresh("7", 2, family="id-0")
    assert (next_claims.token_id, next_claims.family) == ("id-1", "id-0")
    access = issuer.issue("7", "ada@example.com", 2)
    with pytest.raises(InvalidToken, match="access token is needed"):
        issuer.verify(second)
    with pytest.raises(InvalidToken, match="refresh token"):
        issuer.verify_refresh(access)
    with pytest.raises(InvalidToken, match="expired"):
        tokens(now=NOW + 600).verify_refresh(first)
    familyless = jwt.encode({**jwt.decode(first, options={"verify_signature": False}), "fam": ""}, b"k" * 32)
    with pytest.raises(InvalidToken, match="no session"):
        issuer.verify_refresh(familyless)


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_asymmetric_tokens_round_trip_with_a_kid(keys: dict[str, SigningKey], algorithm: str) -> None:
    key = keys[algorithm]
    issuer = tokens(key)
    token = issuer.issue("7", "ada@example.com", 0)
    assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": key.key_id, "typ": "JWT"}
    assert issuer.verify(token).subject == "7"
    refresh, _claims = issuer.issue_refresh("7", 0)
    assert issuer.verify_refresh(refresh).family == "id-1"
    # Another service verifies our tokens with the published key alone.
    jwk = key.jwk()
    assert jwk is not None and (jwk["kid"], jwk["alg"], jwk["use"]) == (key.key_id, algorithm, "sig")
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[algorithm], options={"verify_exp": False})["sub"] == "7"
    assert "d" not in jwk  # the public half only
    with pytest.raises(InvalidToken, match="expired"):
        tokens(key, now=NOW + 60).verify(token)


def test_the_key_id_is_the_rfc_7638_thumbprint(keys: dict[str, SigningKey]) -> None:
    jwk = keys["EdDSA"].jwk()
    assert jwk is not None
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":")).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    assert jwk["kid"] == keys["EdDSA"].key_id == expected
    assert SigningKey.hmac(b"k" * 32).jwk() is None  # a secret is never published


def forged(payload: dict[str, object], alg: str, secret: bytes | None) -> str:
    """A token with any header, HMAC-signed by hand (or unsigned): what an attacker sends."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    head = f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload)}"
    if secret is None:
        return head + "."
    signature = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return f"{head}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_an_asymmetric_server_refuses_confusion_none_other_keys_and_bad_times(
    keys: dict[str, SigningKey], algorithm: str
) -> None:
    key, issuer = keys[algorithm], tokens(keys[algorithm])
    claims = {"sub": "7", "iat": int(NOW), "exp": int(NOW) + 60, "iss": "jsonserve", "jti": "x", "ver": 0}
    claims["typ"] = "access"
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = other_rsa if algorithm == "RS256" else ed25519.Ed25519PrivateKey.generate()
    public = public_pem(RSA_KEY if algorithm == "RS256" else ED_KEY)
    refused = {
        "HS256 with the public key as secret": forged(claims, "HS256", public),
        "alg none": forged(claims, "none", None),
        "the right alg, another key": jwt.encode(claims, other_key, algorithm=algorithm),
        "the other asymmetric alg": jwt.encode(claims, ED_KEY if algorithm == "RS256" else RSA_KEY,
                                               algorithm="EdDSA" if algorithm == "RS256" else "RS256"),
        "future nbf": jwt.encode({**claims, "nbf": int(NOW) + 1}, key.private, algorithm=algorithm),
        "expired": jwt.encode({**claims, "exp": int(NOW)}, key.private, algorithm=algorithm),
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key.private, algorithm=algorithm),
    }  # fmt: skip
    for why, token in refused.items():
        with pytest.raises(InvalidToken):
            issuer.verify(token)
            pytest.fail(why)
    assert issuer.verify(jwt.encode(claims, key.private, algorithm=algorithm)).subject == "7"  # the control


def test_private_keys_that_refuse_to_start(tmp_path: Path) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the key refused
    files = {
        "missing.pem": None,
        "small.pem": pem(small),
        "public.pem": public_pem(RSA_KEY),
        "garbage.pem": b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n",
        "encrypted.pem": pem(ED_KEY, serialization.BestAvailableEncryption(b"pass phrase")),
        "ec.pem": pem(ec.generate_private_key(ec.SECP256R1())),
        "huge.pem": b"x" * 70_000,
    }
    words = {
        "missing.pem": "cannot read",
        "small.pem": "1024 bits; at least 2048",
        "public.pem": "not a PEM private key",
        "garbage.pem": "not a PEM private key",
        "encrypted.pem": "is encrypted",
        "ec.pem": "neither an RSA nor an Ed25519 key",
        "huge.pem": "not a PEM private key",
    }
    for name, data in files.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(WeakKey, match=words[name]):
            private_key(tmp_path / name)
    (tmp_path / "traditional.pem").write_bytes(
        RSA_KEY.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    )
    assert private_key(tmp_path / "traditional.pem").algorithm == "RS256"  # `openssl genrsa`'s format too


# -- refresh token sessions ----------------------------------------------------------------------


def refresh_claims(token_id: str, family: str, expires: int = int(NOW) + 600) -> Claims:
    return Claims("7", None, 0, token_id, expires, family)


def column(state: list[Any], key: str) -> list[Any]:
    return [entry[key] for entry in state]


def test_rotation_race_and_reuse() -> None:
    now = int(NOW)
    state = sessions.started(None, refresh_claims("a1", "a1"), now)
    state = sessions.started(state, refresh_claims("b1", "b1"), now)
    assert sessions.verdict(state, refresh_claims("a1", "a1"), now) is Verdict.ROTATE
    state = sessions.rotated(state, refresh_claims("a1", "a1"), refresh_claims("a2", "a1"), now)
    assert column(state, "id") == ["b1", "a2"]  # the used family last
    assert sessions.verdict(state, refresh_claims("a2", "a1"), now + 1) is Verdict.ROTATE
    assert sessions.verdict(state, refresh_claims("a1", "a1"), now + REUSE_GRACE - 1) is Verdict.RACE
    assert sessions.verdict(state, refresh_claims("a1", "a1"), now + REUSE_GRACE) is Verdict.REUSE
    state = sessions.rotated(state, refresh_claims("a2", "a1"), refresh_claims("a3", "a1"), now)
    assert sessions.verdict(state, refresh_claims("a1", "a1"), now) is Verdict.REUSE  # an older ancestor: no grace
    state = sessions.revoked(state, "a1", now)
    assert sessions.verdict(state, refresh_claims("a3", "a1"), now) is Verdict.UNKNOWN
    assert sessions.verdict(state, refresh_claims("b1", "b1"), now) is Verdict.ROTATE  # other sessions live on
    assert sessions.verdict(state, refresh_claims("b1", "forged"), now) is Verdict.UNKNOWN


def test_the_state_stays_bounded_and_sheds_expired_and_malformed_entries() -> None:
    now = int(NOW)
    state: list[Any] = ["junk", {"family": 1}, {"family": "old", "id": "old", "expires": now}]
    for n in range(MAX_FAMILIES + 2):
        state = sessions.started(state, refresh_claims(f"f{n}", f"f{n}"), now)
    assert column(state, "family") == [f"f{n}" for n in range(2, MAX_FAMILIES + 2)]
    assert sessions.verdict(state, refresh_claims("f0", "f0"), now) is Verdict.UNKNOWN  # the oldest was evicted
    assert sessions.verdict("not a list", refresh_claims("f0", "f0"), now) is Verdict.UNKNOWN
    state = sessions.rotated(state, refresh_claims("f2", "f2"), refresh_claims("g2", "f2"), now)
    state = sessions.started(state, refresh_claims("h", "h"), now)
    assert column(state, "family")[-2:] == ["f2", "h"]  # the recently used family survived
    assert len(sessions.revoked(state, None, now + 601)) == 0  # all expired
