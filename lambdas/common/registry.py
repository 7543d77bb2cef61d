"""The model registry question three Lambdas ask: which package of a group is the newest Approved one."""

from __future__ import annotations

from typing import Any


def newest_approved_package(sagemaker: Any, group: str) -> str | None:
    """ARN of the newest Approved package in ``group``, or None when the group has none."""
    response = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    summaries = response.get("ModelPackageSummaryList") or []
    return str(summaries[0]["ModelPackageArn"]) if summaries else None
