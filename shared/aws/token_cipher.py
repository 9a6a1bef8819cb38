"""OAuth tokens encrypted with KMS (direct Encrypt: the pair is far below 4 KB), bound by encryption context to
the tenant and the realm, so a ciphertext copied onto another connection does not decrypt."""

from __future__ import annotations

import json

from shared.aws.clients import client
from shared.quickbooks.tokens import TokenSet


class KmsTokenCipher:
    def __init__(self, key_id: str):
        self._key_id = key_id

    def encrypt(self, tenant_id: str, realm_id: str, tokens: TokenSet) -> bytes:
        plaintext = json.dumps({"a": tokens.access_token, "r": tokens.refresh_token}).encode()
        out = client("kms").encrypt(KeyId=self._key_id, Plaintext=plaintext,
                                    EncryptionContext={"tenantId": tenant_id, "realmId": realm_id})
        return out["CiphertextBlob"]

    def decrypt(self, tenant_id: str, realm_id: str, blob: bytes) -> tuple[str, str]:
        out = client("kms").decrypt(CiphertextBlob=blob, KeyId=self._key_id,
                                    EncryptionContext={"tenantId": tenant_id, "realmId": realm_id})
        data = json.loads(out["Plaintext"])
        return data["a"], data["r"]
