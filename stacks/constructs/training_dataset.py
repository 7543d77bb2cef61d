"""The training state machine's data steps: run the dataset job, read its manifest, and choose the channels.

    Dataset (glue:startJobRun.sync) -> ReadDatasetManifest (s3:getObject) -> DatasetStatus?
        --no_new_data--> NoNewData (Succeed)
        otherwise -> [PublishModelQuality (training_quality.py)] -> Champion?
                     --a champion's model--> ChannelsWithChampion | Channels -> <then> (Train or Tune)

The Channels states write the training job's InputDataConfig (``training_jobs.input_channels``): the dataset run's
train, validation and holdout prefixes, and the champion's model.tar.gz when Prepare found one.
"""

from collections.abc import Callable
from typing import Any

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from esteira_contracts.training import PrepareResult
from stacks.constructs.training_jobs import input_channels
from stacks.constructs.training_paths import (
    DatasetJobResult,
    DatasetManifest,
    TrainingChannels,
    path,
    result_path,
    selector,
)

# The dataset job's manifest.json "status" (glue_jobs/esteira_dataset: STATUS_NO_NEW_DATA).
NO_NEW_DATA_STATUS = "no_new_data"


def dataset_states(
    scope: Construct,
    *,
    job_name: str,
    datasets_objects_arn: str,
    guarded: Callable[[Any], Any],
    then: sfn.IChainable,
    before_training: Callable[[sfn.IChainable], sfn.IChainable] | None = None,
) -> sfn.Chain:
    """``before_training``, given the Champion choice, chains a step before it (PublishModelQuality)."""
    # No task timeout: the job's own (training.dataset.timeout_minutes) ends a run that hangs, and the .sync fails.
    dataset = guarded(
        tasks.GlueStartJobRun(
            scope,
            "Dataset",
            comment="Latest version per key of the curated extractions, split by key hash; waits for the run",
            glue_job_name=job_name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            arguments=sfn.TaskInput.from_object(
                {
                    "--run_id": sfn.JsonPath.string_at(path(PrepareResult, "dataset_run_id")),
                    "--datasets_uri": sfn.JsonPath.string_at(path(PrepareResult, "datasets_uri")),
                    "--batch_input_uri": sfn.JsonPath.string_at(path(PrepareResult, "batch_input_uri")),
                }
            ),
            result_selector=selector(DatasetJobResult, {"job_run_id": "$.Id", "state": "$.JobRunState"}),
            result_path=result_path(DatasetJobResult),
        )
    )
    read_manifest = guarded(
        tasks.CallAwsService(
            scope,
            "ReadDatasetManifest",
            comment="The dataset run's manifest.json: its status says whether there is anything to train on",
            service="s3",
            action="getObject",
            parameters={
                "Bucket": sfn.JsonPath.string_at(path(PrepareResult, "dataset_manifest_bucket")),
                "Key": sfn.JsonPath.string_at(path(PrepareResult, "dataset_manifest_key")),
            },
            iam_resources=[datasets_objects_arn],
            result_selector={"manifest.$": "States.StringToJson($.Body)"},
            result_path=result_path(DatasetManifest),
        )
    )
    channels = sfn.Pass(
        scope,
        "Channels",
        comment="No champion: train, validation and holdout",
        parameters={"input_data_config": input_channels(champion=False)},
        result_path=result_path(TrainingChannels),
    )
    channels_with_champion = sfn.Pass(
        scope,
        "ChannelsWithChampion",
        comment="The champion's model.tar.gz too: the job scores it on the same holdout rows",
        parameters={"input_data_config": input_channels(champion=True)},
        result_path=result_path(TrainingChannels),
    )
    channels.next(then)
    channels_with_champion.next(then)
    champion = (
        sfn.Choice(scope, "Champion")
        .when(sfn.Condition.is_null(path(PrepareResult, "champion_model_uri")), channels)
        .otherwise(channels_with_champion)
    )
    status = (
        sfn.Choice(scope, "DatasetStatus")
        .when(
            sfn.Condition.string_equals(f"{path(DatasetManifest, 'manifest')}.status", NO_NEW_DATA_STATUS),
            sfn.Succeed(scope, "NoNewData", comment="No row with a final label: nothing to train on"),
        )
        .otherwise(before_training(champion) if before_training else champion)
    )
    return sfn.Chain.start(dataset).next(read_manifest).next(status)
