"""cdk-nag (v3) wiring: findings are acknowledged with CDK's Validations API, always with a written reason."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str, *, findings: Iterable[str] = ()) -> None:
    """`findings` narrows a multi-finding rule (IAM5) to exact ones, e.g. "Resource::*"; v3 has no prefix matching."""
    ids = [f"{rule_id}[{finding}]" for finding in findings] or [rule_id]
    Validations.of(construct).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule in ids))
