"""What Register records in the model registry: CreateModelPackage's request, from the execution's results.

The package names the training job's image and artifacts, the content types the model server takes and returns, the
evaluation (and, with training.bias, Clarify's reports) as its metrics, the baselines the endpoint's data-quality
monitor compares capture with, and the lineage Evaluate put in its customer metadata.
"""

from typing import Any

from aws_cdk import aws_stepfunctions as sfn

from esteira_contracts.training import EvaluateResult
from stacks import names
from stacks.constructs.training_baseline import drift_check_baselines
from stacks.constructs.training_clarify_states import clarify_model_metrics
from stacks.constructs.training_paths import TrainingJobResult, path


def model_package_request(group_name: str, approval: str, *, with_clarify: bool) -> dict[str, Any]:
    """CreateModelPackage's parameters: ``approval`` is the status a new package starts with (training.approval)."""
    return {
        "ModelPackageGroupName": group_name,
        "ModelPackageDescription": sfn.JsonPath.string_at(path(EvaluateResult, "reason")),
        "ModelApprovalStatus": approval,
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": sfn.JsonPath.string_at(path(TrainingJobResult, "training_image")),
                    "ModelDataUrl": sfn.JsonPath.string_at(path(TrainingJobResult, "model_artifacts")),
                }
            ],
            "SupportedContentTypes": list(names.MODEL_REQUEST_CONTENT_TYPES),
            "SupportedResponseMIMETypes": list(names.MODEL_RESPONSE_CONTENT_TYPES),
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": sfn.JsonPath.string_at(path(EvaluateResult, "evaluation_uri")),
                }
            },
            **(clarify_model_metrics() if with_clarify else {}),
        },
        # What the endpoint's data-quality monitor compares capture with, once this package serves.
        "DriftCheckBaselines": drift_check_baselines(),
        "CustomerMetadataProperties": sfn.JsonPath.object_at(path(EvaluateResult, "customer_metadata")),
    }
