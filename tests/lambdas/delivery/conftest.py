"""Fixtures for the promotion Lambda. The moto server and fake credentials come from ``tests/lambdas/conftest.py``
(``moto_endpoint`` and the autouse ``aws_env``); this file moves the region to the toolchain's (eu-west-1), sets the
promoter's environment and creates, per test, a CodePipeline V2 pipeline declaring the ``ModelPackageArn`` variable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from common import clients

REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"  # the toolchain account, as moto sees it
REGISTRY_ACCOUNT = "222222222222"
GROUP = "esteira-staging-model"
VARIABLE = "ModelPackageArn"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "delivery"
_TRUST_CODEPIPELINE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def approved_event() -> dict[str, Any]:
    """A fresh copy of the realistic Approved event (registry account 222222222222, group esteira-staging-model)."""
    event: dict[str, Any] = json.loads((FIXTURES / "model_package_approved_event.json").read_text())
    return event


@dataclass(frozen=True)
class Pipeline:
    name: str
    codepipeline: Any  # the tests' own client, not the Lambda's

    def executions(self) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = self.codepipeline.list_pipeline_executions(pipelineName=self.name)[
            "pipelineExecutionSummaries"
        ]
        return summaries

    def variables_of(self, execution_id: str) -> list[dict[str, str]]:
        execution = self.codepipeline.get_pipeline_execution(pipelineName=self.name, pipelineExecutionId=execution_id)
        variables: list[dict[str, str]] = execution["pipelineExecution"]["variables"]
        return variables


@pytest.fixture(scope="session")
def test_clients(moto_endpoint: str) -> dict[str, Any]:
    """The tests' own clients, made once (a botocore client costs ~0.1-0.5 s)."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return {name: session.client(name, endpoint_url=moto_endpoint) for name in ("codepipeline", "iam")}


@pytest.fixture(scope="session")
def pipeline_role(test_clients: dict[str, Any]) -> str:
    """moto's CreatePipeline checks that the role exists and trusts codepipeline.amazonaws.com."""
    name = f"esteira-delivery-pipeline-{uuid.uuid4().hex[:8]}"
    role = test_clients["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=_TRUST_CODEPIPELINE)
    return str(role["Role"]["Arn"])


@pytest.fixture(autouse=True)
def promoter_env(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The toolchain's region and the promoter's variables. Yields PIPELINE_NAME, unique per test (no pipeline of
    that name exists unless the test asks for the ``pipeline`` fixture)."""
    name = f"esteira-delivery-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "esteira-delivery-tests")
    monkeypatch.setenv("PIPELINE_NAME", name)
    monkeypatch.setenv("MODEL_PACKAGE_GROUPS", f"{GROUP}, esteira-staging-other")
    monkeypatch.setenv("REGISTRY_ACCOUNT", REGISTRY_ACCOUNT)
    monkeypatch.delenv("PIPELINE_VARIABLE", raising=False)  # the default, ModelPackageArn
    clients.reset_clients()
    yield name
    clients.reset_clients()


@pytest.fixture
def pipeline(promoter_env: str, test_clients: dict[str, Any], pipeline_role: str) -> Pipeline:
    """The V2 pipeline PIPELINE_NAME in moto (a source and an approval stage), declaring the ModelPackageArn
    variable as the real one does."""
    name = promoter_env
    test_clients["codepipeline"].create_pipeline(
        pipeline={
            "name": name,
            "roleArn": pipeline_role,
            "artifactStore": {"type": "S3", "location": f"esteira-delivery-artifacts-{MOTO_ACCOUNT}"},
            "pipelineType": "V2",
            "variables": [{"name": VARIABLE, "description": "ARN of the approved model package to deploy"}],
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "GitHub",
                            "actionTypeId": {
                                "category": "Source",
                                "owner": "AWS",
                                "provider": "CodeStarSourceConnection",
                                "version": "1",
                            },
                            "configuration": {"FullRepositoryId": "acme/esteira", "BranchName": "main"},
                            "outputArtifacts": [{"name": "source"}],
                        }
                    ],
                },
                {
                    "name": "ApproveProd",
                    "actions": [
                        {
                            "name": "Approve",
                            "actionTypeId": {
                                "category": "Approval",
                                "owner": "AWS",
                                "provider": "Manual",
                                "version": "1",
                            },
                        }
                    ],
                },
            ],
        }
    )
    return Pipeline(name=name, codepipeline=test_clients["codepipeline"])
