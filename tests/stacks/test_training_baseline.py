"""The baselining job in the synthesized Training stacks: its state, its role, and the state machine's grants."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks import names
from stacks.config import ConfigError, load_config
from stacks.model_monitor_images import ANALYZER_REPOSITORY, MODEL_MONITOR_REGISTRIES, analyzer_image
from tests.stacks.conftest import ENVS, SynthesizedEnv, synthesize
from tests.stacks.test_training_stack import definition, training

Synth = Callable[[str], SynthesizedEnv]


def policy_of(synthesized: SynthesizedEnv, logical_prefix: str) -> dict[str, Any]:
    policies = synthesized.templates["Training"].find_resources("AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith(logical_prefix)]
    document: dict[str, Any] = policy["Properties"]["PolicyDocument"]
    return document


def role_id(synthesized: SynthesizedEnv) -> str:
    roles = synthesized.templates["Training"].find_resources("AWS::IAM::Role")
    (logical_id,) = [k for k in roles if k.startswith("PipelineBaseliningRole")]
    return logical_id


@pytest.mark.parametrize("env", ENVS)
def test_the_baseline_state_runs_the_regions_analyzer_under_its_own_role(synth: Synth, env: str) -> None:
    # GIVEN the synthesized Training stack
    synthesized = synth(env)
    template = training(synthesized)
    states = definition(template)["States"]
    # WHEN the gate passes THEN Baseline runs before Register, with the config region's analyzer image
    passed = "BiasGatePassed" if synthesized.config.training.bias.enabled else "Gate"  # Clarify runs in between
    assert states[passed]["Choices"][0]["Next"] == "Baseline"
    parameters = states["Baseline"]["Parameters"]
    region = synthesized.config.region
    assert parameters["AppSpecification"]["ImageUri"] == (
        f"{MODEL_MONITOR_REGISTRIES[region]}.dkr.ecr.{region}.amazonaws.com/{ANALYZER_REPOSITORY}"
    )
    # AND the job runs as the baselining role (the state machine passes it), encrypted with the env's key
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    role_arn = {"Fn::GetAtt": [role_id(synthesized), "Arn"]}
    baseline_at = next(i for i, part in enumerate(parts) if isinstance(part, str) and '"Baseline":' in part)
    assert role_arn in parts[baseline_at:], "the Baseline state names the baselining role"
    assert parameters["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "<ref>"
    assert parameters["ProcessingOutputConfig"]["KmsKeyId"] == "<ref>"
    # AND it runs in the training jobs' VPC where they do (prod)
    train = states.get("Train") or states["Tune"]["Parameters"]["TrainingJobDefinition"]
    train_parameters = train.get("Parameters", train)
    assert ("VpcConfig" in parameters["NetworkConfig"]) is ("VpcConfig" in train_parameters)


@pytest.mark.parametrize("env", ENVS)
def test_the_baselining_role_reads_only_baseline_csvs_and_writes_only_baselines(synth: Synth, env: str) -> None:
    # GIVEN the baselining role's policy
    document = policy_of(synth(env), "PipelineBaseliningRole")
    statements = document["Statement"]
    text = json.dumps(document)
    # THEN it reads the dataset runs' baseline/ CSV only, and puts (never deletes) under monitoring/baselines/
    reads = [s for s in statements if "s3:GetObject*" in s["Action"]]
    assert reads and all(f"/{names.DATASETS_PREFIX}run_id=*/baseline/*" in json.dumps(s["Resource"]) for s in reads), (
        "reads nothing but the baseline CSVs"
    )
    writes = [s for s in statements if any(str(a).startswith(("s3:Put", "s3:Delete")) for a in s["Action"])]
    assert writes
    for statement in writes:
        assert not any(str(a).startswith("s3:Delete") for a in statement["Action"])
        assert f'/{names.MONITORING_BASELINES_PREFIX}*"' in json.dumps(statement["Resource"])
    # AND it uses the key, and writes only SageMaker's processing-job logs
    assert "kms:Decrypt" in text and "kms:GenerateDataKey*" in text
    (logs,) = [s for s in statements if s.get("Sid") == "WriteLogs"]
    assert "/aws/sagemaker/ProcessingJobs*" in json.dumps(logs["Resource"])
    assert "Curated" not in text and f"/{names.MODEL_ARTIFACTS_PREFIX}" not in text


@pytest.mark.parametrize("env", ENVS)
def test_the_baselining_role_may_pull_only_the_analyzer_image(synth: Synth, env: str) -> None:
    synthesized = synth(env)
    document = policy_of(synthesized, "PipelineBaseliningAnalyzerImagePull")
    region = synthesized.config.region
    pulls = [s for s in document["Statement"] if "ecr:BatchGetImage" in s["Action"]]
    assert [s["Resource"] for s in pulls] == [
        f"arn:aws:ecr:{region}:{MODEL_MONITOR_REGISTRIES[region]}:repository/{ANALYZER_REPOSITORY}"
    ]
    # AND it may create ENIs exactly where the training jobs may: it runs in their VPC
    training_pull = policy_of(synthesized, "PipelineTrainingImagePull")

    def enis(policy: dict[str, Any]) -> bool:
        return any("ec2:CreateNetworkInterface" in s["Action"] for s in policy["Statement"])

    assert enis(document) is enis(training_pull)


@pytest.mark.parametrize("env", ENVS)
def test_the_state_machine_runs_and_stops_only_this_envs_baselining_jobs(synth: Synth, env: str) -> None:
    synthesized = synth(env)
    document = policy_of(synthesized, "PipelineStateMachineRoleDefaultPolicy")
    statements = document["Statement"]
    account, region = synthesized.config.account, synthesized.config.region
    (jobs,) = [s for s in statements if "sagemaker:CreateProcessingJob" in s["Action"]]
    assert set(jobs["Action"]) >= {"sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"}
    assert jobs["Resource"] == f"arn:aws:sagemaker:{region}:{account}:processing-job/esteira-{env}-*"
    passes = [s for s in statements if s["Action"] == "iam:PassRole"]
    passed = [r for s in passes for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert {"Fn::GetAtt": [role_id(synthesized), "Arn"]} in passed
    assert all(s["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}} for s in passes)
    rules = [s for s in statements if "events:PutRule" in s["Action"]]
    assert "StepFunctionsGetEventsForSageMakerProcessingJobsRule" in json.dumps(rules)


def test_a_region_without_an_analyzer_image_fails_naming_the_region_key() -> None:
    assert analyzer_image("eu-west-1") == f"468650794304.dkr.ecr.eu-west-1.amazonaws.com/{ANALYZER_REPOSITORY}"
    assert analyzer_image("cn-north-1").endswith(
        ".dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-model-monitor-analyzer"
    )
    with pytest.raises(ConfigError, match=r"^region: .*'xx-nowhere-9'"):
        analyzer_image("xx-nowhere-9")


def test_synth_in_a_region_without_an_analyzer_image_fails_naming_the_region_key(tmp_path: Path) -> None:
    # GIVEN dev's config moved to a region for which no analyzer image is known
    config = load_config("dev").model_copy(update={"region": "af-south-1"})
    # WHEN the app is synthesized THEN it fails naming the config key, before anything is deployed
    with pytest.raises(ConfigError, match=r"^region: .*'af-south-1'.*eu-west-1"):
        synthesize("dev", tmp_path, config)
