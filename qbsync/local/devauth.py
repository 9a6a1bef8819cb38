"""Platform JWTs for the local stack: an RSA key kept in the state dir, the same claims the platform issues
(tenant_id, role) and the same checks API Gateway's JWT authorizer makes (signature, iss, aud, exp)."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://platform.local/"
AUDIENCE = "qbsync"
KEY_FILE = "dev-jwt-key.pem"


@lru_cache(maxsize=8)
def _private_key(state_dir: str):
    # Loaded once per state dir: parsing the PEM for every token cost more CPU than any handler during the
    # fairness benchmark's polling (docs/benchmarks.md, Fairness).
    path = Path(state_dir) / KEY_FILE
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key


def issue_token(tenant_id: str, role: str = "admin", state_dir: str = ".qbsync", ttl_s: int = 3600,
                subject: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject or f"user-{tenant_id}", "tenant_id": tenant_id,
              "role": role, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, _private_key(state_dir), algorithm="RS256", headers={"kid": "local"})


class JwtVerifier:
    def __init__(self, state_dir: str):
        self._public = _private_key(state_dir).public_key()

    def claims(self, authorization: str | None) -> dict | None:
        """The verified claims, or None where API Gateway would answer 401."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        try:
            return jwt.decode(authorization[7:].strip(), self._public, algorithms=["RS256"], audience=AUDIENCE,
                              issuer=ISSUER, options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError:
            return None
