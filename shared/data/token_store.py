"""DynamoDB token store: ciphertext plus a refresh lease, every write conditional."""

from __future__ import annotations

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition

from shared.aws.token_cipher import KmsTokenCipher
from shared.data.models import TokenItem
from shared.quickbooks.tokens import StoredTokens, TokenSet

SK = "TOKENS"


def _pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


class DynamoTokenStore:
    def __init__(self, cipher: KmsTokenCipher):
        self._cipher = cipher

    def load(self, tenant_id: str) -> StoredTokens | None:
        try:
            item = TokenItem.get(_pk(tenant_id), SK, consistent_read=True)
        except TokenItem.DoesNotExist:
            return None
        access, refresh = self._cipher.decrypt(tenant_id, item.token_realm, item.ciphertext)
        tokens = TokenSet(access, refresh, float(item.access_expires_at),
                          float(item.refresh_expires_at) if item.refresh_expires_at else None,
                          float(item.hard_expires_at) if item.hard_expires_at else None)
        return StoredTokens(tenant_id, item.token_realm, tokens, int(item.generation or 0),
                            item.lease_owner, item.lease_until / 1000 if item.lease_until else None)

    def put_new(self, tenant_id: str, realm_id: str, tokens: TokenSet) -> None:
        TokenItem(_pk(tenant_id), SK, token_realm=realm_id,
                  ciphertext=self._cipher.encrypt(tenant_id, realm_id, tokens),
                  access_expires_at=int(tokens.access_expires_at),
                  refresh_expires_at=int(tokens.refresh_expires_at) if tokens.refresh_expires_at else None,
                  hard_expires_at=int(tokens.hard_expires_at) if tokens.hard_expires_at else None,
                  generation=0).save()

    def try_lease(self, tenant_id: str, owner: str, now: float, until: float) -> bool:
        item = TokenItem(_pk(tenant_id), SK)
        free: Condition = TokenItem.lease_until.does_not_exist() | (TokenItem.lease_until < int(now * 1000))
        try:
            item.update(actions=[TokenItem.lease_owner.set(owner), TokenItem.lease_until.set(int(until * 1000))],
                        condition=TokenItem.pk.exists() & free)
            return True
        except UpdateError as exc:
            if _conditional(exc):
                return False
            raise

    def expire_access(self, tenant_id: str) -> None:
        """QuickBooks refused a token we believed valid: the next user refreshes instead of trusting it."""
        try:
            TokenItem(_pk(tenant_id), SK).update(actions=[TokenItem.access_expires_at.set(0)],
                                                 condition=TokenItem.pk.exists())
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise

    def save_refreshed(self, tenant_id: str, owner: str, tokens: TokenSet) -> bool:
        current = TokenItem.get(_pk(tenant_id), SK, consistent_read=True)
        item = TokenItem(_pk(tenant_id), SK)
        try:
            item.update(
                actions=[
                    TokenItem.ciphertext.set(self._cipher.encrypt(tenant_id, current.token_realm, tokens)),
                    TokenItem.access_expires_at.set(int(tokens.access_expires_at)),
                    TokenItem.refresh_expires_at.set(int(tokens.refresh_expires_at or 0)),
                    *([TokenItem.hard_expires_at.set(int(tokens.hard_expires_at))] if tokens.hard_expires_at else []),
                    TokenItem.generation.add(1),
                ],
                condition=TokenItem.lease_owner == owner,
            )
            return True
        except UpdateError as exc:
            if _conditional(exc):
                return False
            raise

    def release(self, tenant_id: str, owner: str) -> None:
        try:
            TokenItem(_pk(tenant_id), SK).update(
                actions=[TokenItem.lease_owner.remove(), TokenItem.lease_until.remove()],
                condition=TokenItem.lease_owner == owner)
        except UpdateError as exc:
            if not _conditional(exc):
                raise

    def delete(self, tenant_id: str) -> None:
        TokenItem(_pk(tenant_id), SK).delete()


def _conditional(exc: PutError | UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"
