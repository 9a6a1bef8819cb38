"""Web Connector passwords, stored only as a slow salted hash (never the password, never reversible).

hashlib.scrypt with N=2**14, r=8, p=1 (16 MiB of memory and ~50 ms per guess on a Lambda core): the parameters
OWASP's password storage cheat sheet lists as scrypt's minimum. The parameters are stored with each hash, so they can
be raised later and old hashes still verify. docs/decisions.md explains why scrypt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P, DKLEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=DKLEN)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches; a missing or malformed hash costs the same time and is False."""
    try:
        kind, n, r, p, salt, digest = (stored or "").split("$")
        if kind != "scrypt":
            raise ValueError(kind)
        params = (int(n), int(r), int(p))
        salt_bytes, expected = base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        _scrypt(password, b"\0" * 16, N, R, P)  # same cost as a real check: no user-exists oracle by timing
        return False
    return hmac.compare_digest(_scrypt(password, salt_bytes, *params), expected)


def new_password() -> str:
    """A password for the admin to type into the Web Connector once: 20 characters, ~119 bits."""
    return secrets.token_urlsafe(15)
