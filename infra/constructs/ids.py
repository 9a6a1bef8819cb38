"""Stable logical IDs for the resources other code looks up in the template (local stack, tests, runbooks)."""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct


def pin_logical_id(construct: IConstruct, logical_id: str) -> None:
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to name")
    resource.override_logical_id(logical_id)
