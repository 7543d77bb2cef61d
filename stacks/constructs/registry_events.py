"""The model registry's "Model Package State Change" events, as the rules that act on them match them."""

from collections.abc import Sequence

from aws_cdk import aws_events as events

from stacks import names


def package_state_changes(group: str, statuses: Sequence[str], account: str | None = None) -> events.EventPattern:
    """Events of `group` whose approval status became one of `statuses` (in `account`, when given)."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[names.MODEL_PACKAGE_STATE_CHANGE],
        account=[account] if account else None,
        detail={"ModelPackageGroupName": [group], "ModelApprovalStatus": list(statuses)},
    )
