"""Confused-deputy guard: every AWS service a key or topic policy allows acts only for this stack's account.

CDK adds some of these statements itself (an encrypted topic as an EventBridge target grants events.amazonaws.com
on the key and the topic), so an aspect scopes them all where they are written: an Allow to a service principal
without `aws:SourceArn` or `aws:SourceAccount` gains `aws:SourceAccount: <this account>`.
"""

from typing import Any

import jsii
from aws_cdk import IAspect, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import IConstruct

SOURCE_KEYS = ("aws:SourceArn", "aws:SourceAccount")


def scoped_statements(document: dict[str, Any], account: str) -> tuple[dict[str, Any], bool]:
    """`document` with every unscoped service-principal Allow scoped to `account`; and whether anything changed."""
    changed = False
    statements = []
    for statement in document.get("Statement", []):
        principal = statement.get("Principal")
        if statement.get("Effect") == "Allow" and isinstance(principal, dict) and "Service" in principal:
            conditions: dict[str, dict[str, Any]] = statement.get("Condition", {})
            if not any(key in operator_keys for operator_keys in conditions.values() for key in SOURCE_KEYS):
                string_equals = {**conditions.get("StringEquals", {}), "aws:SourceAccount": account}
                statement = {**statement, "Condition": {**conditions, "StringEquals": string_equals}}
                changed = True
        statements.append(statement)
    return {**document, "Statement": statements}, changed


@jsii.implements(IAspect)
class ScopeServicePrincipals:
    """Add to a stack: its KMS key policies and SNS topic policies name the source account for every service."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, kms.CfnKey):
            self._scope(node, "KeyPolicy", node.key_policy)
        elif isinstance(node, sns.CfnTopicPolicy):
            self._scope(node, "PolicyDocument", node.policy_document)

    @staticmethod
    def _scope(node: kms.CfnKey | sns.CfnTopicPolicy, property_name: str, document: object) -> None:
        stack = Stack.of(node)
        resolved = stack.resolve(document)
        if not isinstance(resolved, dict):
            return
        scoped, changed = scoped_statements(resolved, stack.account)
        if changed:
            node.add_property_override(f"{property_name}.Statement", scoped["Statement"])
