"""Platform webhooks as change hints. Each tenant signs with its own secret, derived from one master secret
(HMAC(master, tenant_id)), so a leaked tenant secret exposes one tenant and no per-tenant secret needs storing;
the platform is given `tenant_webhook_secret(master, tenant)` when the tenant is provisioned."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from shared.errors import BadRequest, Unauthorized
from shared.fieldservice import webhooks
from shared.quickbooks.webhooks import ChangeHint


def tenant_webhook_secret(master: str, tenant_id: str) -> str:
    return "whsec_" + hmac.new(master.encode(), f"fsp-webhook|{tenant_id}".encode(), hashlib.sha256).hexdigest()


def platform_verifier(master: str, now: Callable[[], float] | None = None
                      ) -> Callable[[bytes, str | None], list[ChangeHint]]:
    def verify(raw_body: bytes, header: str | None) -> list[ChangeHint]:
        if not master:
            raise Unauthorized("platform webhooks are not configured")
        try:
            # Signature first: the tenant (which picks the secret) comes from a shallow, bounded read; the body is
            # parsed only once its signature matched, and must name the tenant whose secret verified it.
            claimed = webhooks.claimed_tenant(raw_body)
            webhooks.verify(tenant_webhook_secret(master, claimed), raw_body, header, now=now() if now else None)
        except webhooks.InvalidPayload as exc:
            raise BadRequest(str(exc)) from None
        except webhooks.WebhookError as exc:
            raise Unauthorized(str(exc)) from None
        try:
            event = webhooks.parse_event(raw_body)
        except webhooks.InvalidPayload as exc:
            raise BadRequest(str(exc)) from None
        if event.tenant_id != claimed:
            raise BadRequest("the event names more than one tenant_id")
        return [ChangeHint(source="fieldservice", account=event.tenant_id, entity=event.entity,
                           entity_id=str(event.object["id"]), operation=event.action, occurred_at=event.created_at,
                           event_id=event.id)]

    return verify
