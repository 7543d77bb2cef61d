"""Fixtures for the promotion Lambda. The moto server and fake credentials come from ``tests/lambdas/conftest.py``
(``moto_endpoint`` and the autouse ``aws_env``); this file moves the region to the toolchain's (eu-west-1), sets the
promoter's environment, creates per test the two SSM parameters as the stack does (``none`` and ``[]``) and, on
request, a CodePipeline V2 pipeline declaring the ``ModelPackageArn`` variable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
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


def rejected_event() -> dict[str, Any]:
    """A fresh copy of the realistic Rejected event: the same package as :func:`approved_event` (version 7), a day
    later, another event id."""
    event: dict[str, Any] = json.loads((FIXTURES / "model_package_rejected_event.json").read_text())
    return event


def package_arn(version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{REGISTRY_ACCOUNT}:model-package/{GROUP}/{version}"


def decision(status: str, version: int) -> dict[str, Any]:
    """A realistic event deciding ``status`` ("Approved" or "Rejected") for version ``version``, with a new id."""
    event = approved_event() if status == "Approved" else rejected_event()
    arn = package_arn(version)
    event["id"] = str(uuid.uuid4())
    event["resources"] = [arn]
    event["detail"].update(ModelPackageVersion=version, ModelPackageArn=arn, ModelApprovalStatus=status)
    return event


@dataclass(frozen=True)
class Promotion:
    """The two SSM parameters the promoter owns, read and set with the tests' own client."""

    promoted_parameter: str
    history_parameter: str
    ssm: Any

    def promoted(self) -> str:
        return str(self.ssm.get_parameter(Name=self.promoted_parameter)["Parameter"]["Value"])

    def raw_history(self) -> str:
        return str(self.ssm.get_parameter(Name=self.history_parameter)["Parameter"]["Value"])

    def history(self) -> list[str]:
        history: list[str] = json.loads(self.raw_history())
        return history

    def versions(self) -> tuple[int, int]:
        """(promoted, history) parameter versions: a write bumps one."""
        promoted, history = (
            int(self.ssm.get_parameter(Name=name)["Parameter"]["Version"])
            for name in (self.promoted_parameter, self.history_parameter)
        )
        return promoted, history

    def set(self, promoted: str | None = None, history: list[str] | str | None = None) -> None:
        """Overwrite the promoted package and/or the history (a list, JSON-encoded, or a raw string as is)."""
        if promoted is not None:
            self.ssm.put_parameter(Name=self.promoted_parameter, Value=promoted, Type="String", Overwrite=True)
        if history is not None:
            value = history if isinstance(history, str) else json.dumps(history)
            self.ssm.put_parameter(Name=self.history_parameter, Value=value, Type="String", Overwrite=True)


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


class _SearchPaths(list[str]):
    """A loader's search paths that boto3, appending its own data path per session, cannot grow without end."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@pytest.fixture(scope="package", autouse=True)
def shared_data_loader() -> Iterator[None]:
    """One botocore data loader (service models, endpoint rules) for every session made in this package's tests.

    ``common.clients`` makes a client per service per new session, and the tests forget clients after each test,
    so every test reloaded the SSM and CodePipeline models from disk (~0.1 s a client). One process-wide loader is
    what a single session does for all its clients anyway: the loaded models are read-only."""
    original = botocore.session.create_loader
    loaders: dict[str | None, Any] = {}

    def create_loader(search_path_string: str | None = None) -> Any:
        if search_path_string not in loaders:
            loader = original(search_path_string)
            loader._search_paths = _SearchPaths(loader.search_paths)
            loaders[search_path_string] = loader
        return loaders[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", create_loader)
        yield


@pytest.fixture(scope="session")
def test_clients(moto_endpoint: str) -> dict[str, Any]:
    """The tests' own clients, made once (a botocore client costs ~0.1-0.5 s)."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return {name: session.client(name, endpoint_url=moto_endpoint) for name in ("codepipeline", "iam", "ssm")}


@pytest.fixture(scope="session")
def pipeline_role(test_clients: dict[str, Any]) -> str:
    """moto's CreatePipeline checks that the role exists and trusts codepipeline.amazonaws.com."""
    name = f"esteira-delivery-pipeline-{uuid.uuid4().hex[:8]}"
    role = test_clients["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=_TRUST_CODEPIPELINE)
    return str(role["Role"]["Arn"])


@pytest.fixture(autouse=True)
def promoter_env(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The toolchain's region and the promoter's variables. Yields PIPELINE_NAME, unique per test (no pipeline of
    that name exists unless the test asks for the ``pipeline`` fixture); the parameters are the ``promotion``
    fixture's."""
    name = f"esteira-delivery-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "esteira-delivery-tests")
    monkeypatch.setenv("PIPELINE_NAME", name)
    monkeypatch.setenv("MODEL_PACKAGE_GROUPS", f"{GROUP}, esteira-staging-other")
    monkeypatch.setenv("REGISTRY_ACCOUNT", REGISTRY_ACCOUNT)
    monkeypatch.delenv("PIPELINE_VARIABLE", raising=False)  # the default, ModelPackageArn
    monkeypatch.setenv("PROMOTED_PARAMETER", f"/{name}/promoted-model-package")
    monkeypatch.setenv("HISTORY_PARAMETER", f"/{name}/promotion-history")
    clients.reset_clients()
    yield name
    clients.reset_clients()


@pytest.fixture(autouse=True)
def promotion(promoter_env: str, test_clients: dict[str, Any]) -> Promotion:
    """PROMOTED_PARAMETER = "none" and HISTORY_PARAMETER = "[]", as the stack creates them, for every test."""
    promotion = Promotion(
        promoted_parameter=f"/{promoter_env}/promoted-model-package",
        history_parameter=f"/{promoter_env}/promotion-history",
        ssm=test_clients["ssm"],
    )
    promotion.ssm.put_parameter(Name=promotion.promoted_parameter, Value="none", Type="String")
    promotion.ssm.put_parameter(Name=promotion.history_parameter, Value="[]", Type="String")
    return promotion


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
