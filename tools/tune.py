"""`make tune ENV=staging`: launch a hyperparameter tuning job from the environment's config with the SageMaker SDK.

The state machine tunes on every extraction when `training.tuning` is set; this is the operator's way to run a
tuning job by hand, from the same ranges, metric definitions and image, e.g. to explore before changing config.
The SDK (3.x, ~800 MB with its dependencies) lives in `.venv-ops` (`tools/requirements-ops.txt`), never in the
Lambda packages or the stacks. Without `--launch` it prints the plan and calls nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

from stacks import names
from stacks.config import ConfigError, EnvironmentConfig, TuningConfig, load_config


@dataclass(frozen=True)
class RangePlan:
    kind: str  # "continuous" | "integer" | "categorical"
    min_value: float | None
    max_value: float | None
    values: tuple[str, ...]
    scaling: str


@dataclass(frozen=True)
class TuningPlan:
    image: str
    role_arn: str
    train_uri: str
    output_uri: str
    checkpoint_uri: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    spot: bool
    max_runtime_seconds: int
    max_wait_seconds: int | None
    static_hyperparameters: dict[str, str]
    ranges: dict[str, RangePlan]
    objective_metric: str
    objective_type: str
    strategy: str
    max_jobs: int
    max_parallel_jobs: int
    metric_definitions: list[dict[str, str]]
    base_job_name: str


def parameter_ranges(tuning: TuningConfig) -> dict[str, RangePlan]:
    return {
        name: RangePlan(spec.type, spec.min, spec.max, spec.values, spec.scaling)
        for name, spec in sorted(tuning.ranges.items())
    }


def plan(config: EnvironmentConfig, *, role_arn: str, train_uri: str, output_uri: str) -> TuningPlan:
    training = config.training
    if training.tuning is None:
        raise ConfigError(f"config/{config.name}.yaml: training.tuning is not set, so there is nothing to tune")
    tuning = training.tuning
    image = (
        f"{config.account}.dkr.ecr.{config.region}.amazonaws.com/"
        f"{names.PROJECT}-{config.name}/{names.MODEL_IMAGE_REPOSITORY}:{training.image_tag}"
    )
    return TuningPlan(
        image=image,
        role_arn=role_arn,
        train_uri=train_uri,
        output_uri=output_uri.rstrip("/") + "/",
        checkpoint_uri=output_uri.rstrip("/") + "-checkpoints/",
        instance_type=training.instance_type,
        instance_count=training.instance_count,
        volume_size_gb=training.volume_size_gb,
        spot=training.spot,
        max_runtime_seconds=training.max_runtime_minutes * 60,
        max_wait_seconds=training.max_wait_minutes * 60 if training.spot else None,
        static_hyperparameters={
            k: str(v) for k, v in sorted(training.hyperparameters.items()) if k not in tuning.ranges
        },
        ranges=parameter_ranges(tuning),
        objective_metric=tuning.objective_metric,
        objective_type=tuning.objective_type,
        strategy=tuning.strategy,
        max_jobs=tuning.max_jobs,
        max_parallel_jobs=tuning.max_parallel_jobs,
        metric_definitions=[dict(d) for d in names.TRAINING_METRIC_DEFINITIONS],
        base_job_name=f"{names.PROJECT}-{config.name}-manual",
    )


def launch(tuning_plan: TuningPlan) -> Any:  # pragma: no cover - needs the SDK and an AWS account
    from sagemaker.core.shapes.shapes import CheckpointConfig, OutputDataConfig, StoppingCondition
    from sagemaker.core.training.configs import Compute
    from sagemaker.train import ModelTrainer
    from sagemaker.train.tuner import CategoricalParameter, ContinuousParameter, HyperparameterTuner, IntegerParameter

    def sdk_range(spec: RangePlan) -> Any:
        if spec.kind == "categorical":
            return CategoricalParameter(list(spec.values))
        if spec.kind == "integer":
            return IntegerParameter(int(spec.min_value or 0), int(spec.max_value or 0), scaling_type=spec.scaling)
        return ContinuousParameter(spec.min_value, spec.max_value, scaling_type=spec.scaling)

    trainer = ModelTrainer(
        training_image=tuning_plan.image,
        role=tuning_plan.role_arn,
        base_job_name=tuning_plan.base_job_name,
        compute=Compute(
            instance_type=tuning_plan.instance_type,
            instance_count=tuning_plan.instance_count,
            volume_size_in_gb=tuning_plan.volume_size_gb,
            enable_managed_spot_training=tuning_plan.spot,
        ),
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=tuning_plan.max_runtime_seconds,
            max_wait_time_in_seconds=tuning_plan.max_wait_seconds,
        ),
        output_data_config=OutputDataConfig(s3_output_path=tuning_plan.output_uri),
        checkpoint_config=CheckpointConfig(s3_uri=tuning_plan.checkpoint_uri, local_path="/opt/ml/checkpoints"),
        hyperparameters=tuning_plan.static_hyperparameters,
    )
    tuner = HyperparameterTuner(
        model_trainer=trainer,
        objective_metric_name=tuning_plan.objective_metric,
        objective_type=tuning_plan.objective_type,
        hyperparameter_ranges={name: sdk_range(spec) for name, spec in tuning_plan.ranges.items()},
        metric_definitions=tuning_plan.metric_definitions,
        strategy=tuning_plan.strategy,
        max_jobs=tuning_plan.max_jobs,
        max_parallel_jobs=tuning_plan.max_parallel_jobs,
        base_tuning_job_name=tuning_plan.base_job_name[:20],
    )
    tuner.tune(inputs={"train": tuning_plan.train_uri}, wait=False)
    return tuner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--env", default="staging")
    parser.add_argument("--role-arn", required=True, help="the training role (DataPlatform stack)")
    parser.add_argument("--train-uri", required=True, help="s3://<curated bucket>/extractions/<spec name>/")
    parser.add_argument("--output-uri", required=True, help="s3://<artifacts bucket>/models/")
    parser.add_argument("--launch", action="store_true", help="start the tuning job (default: print the plan)")
    args = parser.parse_args(argv)
    try:
        tuning_plan = plan(
            load_config(args.env), role_arn=args.role_arn, train_uri=args.train_uri, output_uri=args.output_uri
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(tuning_plan), indent=2))
    if args.launch:
        launch(tuning_plan)
        print("tuning job started")
    return 0


if __name__ == "__main__":
    sys.exit(main())
