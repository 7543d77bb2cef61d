"""The dataset run of a training execution: where the dataset job writes, the channels it feeds, the champion.

One dataset run per execution, named like its training job, so re-training the same extraction never overwrites
an earlier run's data sets (nor the batch input a registered package was scored on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from common.registry import newest_approved_package
from esteira_contracts import layout
from esteira_contracts.training import PrepareSettings
from training.s3uri import S3Uri

logger = Logger(child=True)

MANIFEST_FILENAME = "manifest.json"
# The dataset job's split folders, which are also the training job's channel names.
TRAIN_SPLIT, VALIDATION_SPLIT, HOLDOUT_SPLIT = "train", "validation", "holdout"


@dataclass(frozen=True)
class DatasetRun:
    run_id: str
    datasets_uri: S3Uri  # folders
    batch_input_uri: S3Uri
    dataset_uri: S3Uri
    manifest: S3Uri
    batch_run_input_uri: S3Uri
    baseline_uri: S3Uri  # the baselining job's output folder for this run

    def split(self, name: str) -> str:
        return str(self.dataset_uri.join(name).as_prefix())


def dataset_run(settings: PrepareSettings, run_id: str) -> DatasetRun:
    artifacts = S3Uri(settings.artifacts_bucket, "")
    datasets = artifacts.join(settings.datasets_prefix).as_prefix()
    dataset = artifacts.join(layout.run_prefix(settings.datasets_prefix, run_id)).as_prefix()
    if settings.predictions_bucket is None:
        # The dataset job's own default (esteira_contracts.dataset): inside the dataset run.
        batch_input = dataset.join(settings.batch_input_prefix).as_prefix()
    else:
        batch_input = S3Uri(settings.predictions_bucket, "").join(settings.batch_input_prefix).as_prefix()
    return DatasetRun(
        run_id=run_id,
        datasets_uri=datasets,
        batch_input_uri=batch_input,
        dataset_uri=dataset,
        manifest=dataset.join(MANIFEST_FILENAME),
        batch_run_input_uri=batch_input.join(f"{layout.RUN_PARTITION_KEY}={run_id}").as_prefix(),
        baseline_uri=artifacts.join(layout.run_prefix(settings.baselines_prefix, run_id)).as_prefix(),
    )


@dataclass(frozen=True)
class ChampionModel:
    package_arn: str
    model_uri: str


def find_champion_model(sagemaker: Any, group: str | None, artifacts_bucket: str) -> ChampionModel | None:
    """The newest Approved package of ``group`` and its model.tar.gz, or None (no group, no package, no model, or
    a model outside ``artifacts_bucket``, which the training role cannot read: Evaluate then uses the package's
    stored metric)."""
    if group is None or sagemaker is None:
        return None
    arn = newest_approved_package(sagemaker, group)
    if arn is None:
        return None
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    containers = (described.get("InferenceSpecification") or {}).get("Containers") or []
    model_uri = containers[0].get("ModelDataUrl") if containers else None
    if not isinstance(model_uri, str) or not model_uri.startswith("s3://"):
        logger.warning("the champion has no S3 model data; it is not scored on the holdout", extra={"champion": arn})
        return None
    if S3Uri.parse(model_uri).bucket != artifacts_bucket:
        logger.warning(
            "the champion's model is outside the artifacts bucket; it is not scored on the holdout",
            extra={"champion": arn, "model_uri": model_uri},
        )
        return None
    return ChampionModel(package_arn=arn, model_uri=model_uri)
