"""Where the training state machine keeps each step's result, and the JSONPaths that read them.

Every path the definition reads from a step's result is made by :func:`path` from the result's class, which checks
that the field exists: the Lambdas' results are the contracts' ``PrepareResult``/``EvaluateResult`` (what the
handlers return), the SageMaker steps' results are the ResultSelectors below, built by :func:`selector` from
their classes. Renaming a field fails at synth instead of in a running execution.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from esteira_contracts.bias import BiasGateResult, ClarifyResult
from esteira_contracts.training import EvaluateResult, PrepareResult, field_names


@dataclasses.dataclass(frozen=True)
class TrainingJobResult:
    """What Train (or DescribeBestTrainingJob, after tuning) keeps of DescribeTrainingJob's response."""

    training_job_name: str
    model_artifacts: str
    training_image: str


@dataclasses.dataclass(frozen=True)
class TuningResult:
    """What Tune keeps of DescribeHyperParameterTuningJob's response."""

    best_training_job_name: str


@dataclasses.dataclass(frozen=True)
class DatasetJobResult:
    """What Dataset keeps of the finished Glue job run (GetJobRun's JobRun)."""

    job_run_id: str
    state: str


@dataclasses.dataclass(frozen=True)
class DatasetManifestBody:
    """The part of the dataset job's manifest.json the state machine reads."""

    status: str  # "ok" or "no_new_data"
    spec_name: str  # the extraction spec the run read; recorded in the package's lineage
    features: list[str]  # the model's features in order; their digest is recorded in the package's lineage
    # The dataset job's counts; BiasGate reads counts.splits.holdout.rows (HOLDOUT_ROWS), the rows Clarify analysed.
    counts: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class DatasetManifest:
    """ReadDatasetManifest's result: the dataset run's manifest.json, parsed."""

    manifest: DatasetManifestBody


@dataclasses.dataclass(frozen=True)
class ModelQualityResult:
    """What PublishModelQuality keeps of the quality publisher's summary (lambdas/training/quality)."""

    report_uri: str
    published_metrics: int
    latest_model_version: str | None
    enough_labels_for_alarm: bool  # the latest version has training.quality.min_labelled_predictions


@dataclasses.dataclass(frozen=True)
class TrainingChannels:
    """The training job's InputDataConfig, made by the Channels (or ChannelsWithChampion) state."""

    input_data_config: list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class BaselineJobResult:
    """What Baseline keeps of the finished processing job (DescribeProcessingJob)."""

    processing_job_arn: str


@dataclasses.dataclass(frozen=True)
class RegistrationResult:
    """What Register keeps of CreateModelPackage's response."""

    model_package_arn: str


# Where in the manifest's counts the holdout's row count is (glue_jobs/esteira_dataset/outputs.count_splits).
HOLDOUT_ROWS: Final = "counts.splits.holdout.rows"

# Each result's ResultPath in the execution's state.
RESULT_PATHS: Mapping[type[Any], str] = {
    PrepareResult: "$.prepare",
    DatasetJobResult: "$.dataset",
    DatasetManifest: "$.dataset_manifest",
    ModelQualityResult: "$.model_quality",
    TrainingChannels: "$.channels",
    TrainingJobResult: "$.training",
    TuningResult: "$.tuning",
    EvaluateResult: "$.evaluation",
    BaselineJobResult: "$.baseline",
    ClarifyResult: "$.clarify",  # the Clarify config writer's result (the run's model, jobs and files)
    BiasGateResult: "$.bias_gate",
    RegistrationResult: "$.registration",
}
# A Catch's ResultPath: Step Functions puts {"Error": <name>, "Cause": <message>} there.
ERROR_PATH = "$.error"
ERROR_NAME = f"{ERROR_PATH}.Error"
ERROR_CAUSE = f"{ERROR_PATH}.Cause"
# Where a failed Stop*Job call's error goes, so that it does not hide the error that made the job stop.
STOP_ERROR_PATH = "$.stop_error"
# The execution's input, as the extraction rule (or an operator) starts it.
RUN_ID_INPUT = "$.run_id"


def result_path(result: type[Any]) -> str:
    """The ResultPath of the step whose result is ``result``."""
    return RESULT_PATHS[result]


def path(result: type[Any], field: str) -> str:
    """``$.<result path>.<field>``, e.g. ``path(PrepareResult, "train_uri") == "$.prepare.train_uri"``."""
    fields = field_names(result)
    if field not in fields:
        raise ValueError(f"{result.__name__} has no field {field!r} (it has {', '.join(fields)})")
    return f"{result_path(result)}.{field}"


def selector(result: type[Any], sources: Mapping[str, str]) -> dict[str, str]:
    """A ResultSelector that fills exactly the fields of ``result`` (in their order) from the response's paths."""
    fields = field_names(result)
    if set(sources) != set(fields):
        raise ValueError(f"a {result.__name__} selector needs exactly {', '.join(fields)}, got {', '.join(sources)}")
    return {f"{field}.$": sources[field] for field in fields}
