"""Prod synth with a model: the Clarify steps in the training state machine, ModelMetrics.Bias/.Explainability at
Register, the Lambdas' contracts and the least-privilege grants (Template assertions with Match)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts.bias import BiasGateSettings, ClarifySettings
from stacks.constructs.training_paths import result_path
from tests.stacks.conftest import SynthesizedEnv
from tests.stacks.training_definition_builder import CLARIFY_LAMBDA_RESULTS

ENV = "prod"


@pytest.fixture(scope="module")
def training(synth_with_model: Callable[[str], SynthesizedEnv]) -> Template:
    return synth_with_model(ENV).templates["Training"]


def definition_parts(template: Template) -> str:
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else "<token>" for part in parts)


def definition_matches(pattern: str) -> dict[str, Any]:
    return {"DefinitionString": {"Fn::Join": ["", Match.array_with([Match.string_like_regexp(pattern)])]}}


def test_the_state_machine_runs_clarify_on_the_regions_image_and_attaches_its_reports(training: Template) -> None:
    # THEN the Clarify bias job runs the region's sagemaker-clarify-processing image synchronously
    training.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        definition_matches(r'"ClarifyBias":\{"Next":"ClarifyExplainability","Type":"Task"'),
    )
    training.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        definition_matches(r"131013547314\.dkr\.ecr\.eu-west-1\.amazonaws\.com/sagemaker-clarify-processing:1\.0"),
    )
    training.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        definition_matches(r":states:::sagemaker:createProcessingJob\.sync"),
    )
    # AND Register's ModelMetrics carry Bias and Explainability beside ModelQuality
    training.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        definition_matches(
            r'"ModelMetrics":\{"ModelQuality":\{.*\},"Bias":\{"Report":\{"ContentType":"application/json",'
            r'"S3Uri\.\$":"\$\.clarify\.bias_analysis_uri"\}\},"Explainability":\{"Report":\{"ContentType":'
            r'"application/json","S3Uri\.\$":"\$\.clarify\.explainability_analysis_uri"\}\}\}'
        ),
    )


def test_the_clarify_jobs_follow_the_documented_processing_contract(training: Template) -> None:
    states = json.loads(definition_parts(training).replace('"<token>"', '"x"').replace("<token>", "x"))["States"]
    for name in ("ClarifyBias", "ClarifyExplainability"):
        parameters = states[name]["Parameters"]
        inputs = {item["InputName"]: item["S3Input"] for item in parameters["ProcessingInputs"]}
        assert inputs["analysis_config"]["LocalPath"] == "/opt/ml/processing/input/config"
        assert inputs["dataset"] | {"S3Uri.$": "-"} == {
            "S3Uri.$": "-",
            "LocalPath": "/opt/ml/processing/input/data",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None",
        }
        (output,) = parameters["ProcessingOutputConfig"]["Outputs"]
        assert output["OutputName"] == "analysis_result" and output["S3Output"]["S3UploadMode"] == "EndOfJob"
        assert parameters["NetworkConfig"]["EnableNetworkIsolation"] is False  # Clarify calls its shadow endpoint
        assert "ContainerEntrypoint" not in parameters["AppSpecification"]
        # A timed-out job is stopped, and any failure deletes the temporary model before NotifyFailure
        catches = {tuple(c["ErrorEquals"]): c["Next"] for c in states[name]["Catch"]}
        assert catches[("States.Timeout",)] == f"StopClarify{name.removeprefix('Clarify')}Job"
        assert catches[("States.ALL",)] == "DeleteClarifyModelOnFailure"
    assert states["DeleteClarifyModelOnFailure"]["Next"] == "NotifyFailure"
    assert states["CreateClarifyModel"]["Parameters"]["EnableNetworkIsolation"] is True
    # Prod runs its jobs in the existing VPC: the docs want the model and the Clarify job in the same VPC
    for name in ("ClarifyBias", "ClarifyExplainability"):
        assert set(states[name]["Parameters"]["NetworkConfig"]["VpcConfig"]) == {"Subnets", "SecurityGroupIds"}
    assert set(states["CreateClarifyModel"]["Parameters"]["VpcConfig"]) == {"Subnets", "SecurityGroupIds"}
    assert states["BiasGatePassed"]["Choices"][0]["Next"] == "Baseline"
    assert states["BiasGatePassed"]["Default"] == "NotifyBiasRejected"
    assert states["BiasGateRejected"]["Parameters"]["outcome"] == "gate_rejected"


def test_the_lambdas_get_their_contracts_from_training_bias(training: Template) -> None:
    functions = training.find_resources("AWS::Lambda::Function")
    by_handler = {f["Properties"]["Handler"]: f["Properties"]["Environment"]["Variables"] for f in functions.values()}
    gate = BiasGateSettings.from_env(by_handler["training.bias_gate.handler.handler"])
    assert (gate.metric, gate.stage, gate.minimum, gate.maximum, gate.enabled, gate.min_facet_rows) == (
        "DI",
        "post_training",
        0.8,
        1.25,
        True,
        100,
    )
    writer = {k: v for k, v in by_handler["training.clarify.handler.handler"].items() if isinstance(v, str)}
    settings = ClarifySettings.from_env(writer | {"ARTIFACTS_BUCKET": "artifacts"})
    # the age bands are a facet Clarify groups by and never sends to the model (excluded_columns)
    assert settings.facets == ("masculino=1", "faixa_etaria=3")
    assert settings.label == "desligado_em_12_meses" and "matricula" in settings.excluded_columns
    assert "faixa_etaria" in settings.headers and "faixa_etaria" in settings.excluded_columns
    assert settings.features[:3] == ("salario", "idade_na_admissao", "masculino")
    assert "faixa_etaria" not in settings.features


def statements(template: Template, logical_id_part: str) -> list[dict[str, Any]]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id_part in logical_id
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {a.lower() for a in ([action] if isinstance(action, str) else action)}


def test_the_state_machine_may_create_and_delete_only_its_runs_models_and_pass_only_clarifys_roles(
    training: Template,
) -> None:
    machine = statements(training, "PipelineStateMachineRole")
    (models,) = [s for s in machine if {"sagemaker:createmodel", "sagemaker:deletemodel"} <= actions(s)]
    assert models["Resource"] == "arn:aws:sagemaker:eu-west-1:333333333333:model/esteira-prod-*"
    (passing,) = [s for s in machine if actions(s) == {"iam:passrole"}]
    passed = json.dumps(passing["Resource"])
    assert "PipelineClarifyingRoleBaseRole" in passed and "PipelineClarifyingModelRoleBaseRole" in passed
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    # AND the jobs' role may touch only the shadow endpoints named under the env's Clarify prefix
    (shadow,) = [s for s in statements(training, "PipelineClarifyingRole") if s.get("Sid") == "ShadowEndpoint"]
    assert {"sagemaker:createendpoint", "sagemaker:invokeendpoint", "sagemaker:deleteendpoint"} <= actions(shadow)
    assert sorted(shadow["Resource"]) == [
        "arn:aws:sagemaker:eu-west-1:333333333333:endpoint-config/esteira-prod-clarify*",
        "arn:aws:sagemaker:eu-west-1:333333333333:endpoint/esteira-prod-clarify*",
    ]


def test_the_clarify_lambdas_are_retried_and_keep_their_results_where_the_definition_reads_them(
    training: Template,
) -> None:
    states = json.loads(definition_parts(training).replace('"<token>"', '"x"').replace("<token>", "x"))["States"]
    for name, result in CLARIFY_LAMBDA_RESULTS.items():
        assert states[name]["ResultPath"] == result_path(result)
        assert "Lambda.ServiceException" in states[name]["Retry"][0]["ErrorEquals"]
