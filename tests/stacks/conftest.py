"""Synthesizes each environment once per test session, in process, as the cdk CLI does: cdk.json's feature flags, each
resource's construct path in its metadata, and a commit (GIT_COMMIT)."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.app_builder import attach_checks, build_stacks
from stacks.config import EnvironmentConfig, available_envs, load_config
from stacks.delivery_config import DeliveryConfig, delivery_links, load_delivery_config
from stacks.delivery_stack import build_delivery

if TYPE_CHECKING:
    from tests.stacks.linters import TemplateScans

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVS = available_envs()
# The commit the session's synths record (`make synth` passes the checkout's): the same for the environments and the
# delivery app, so that an environment's templates and its pipeline stage's differ only in construct paths.
GIT_COMMIT = "0123456789ab"


@dataclass(frozen=True)
class SynthesizedEnv:
    config: EnvironmentConfig
    assembly_dir: Path
    templates: dict[str, Template]  # by stack component, e.g. "DataPlatform"

    @property
    def validation_report(self) -> dict[str, object]:
        report: dict[str, object] = json.loads((self.assembly_dir / "validation-report.json").read_text())
        return report

    def template_files(self) -> list[Path]:
        return sorted(self.assembly_dir.glob("*.template.json"))


def model_package_arn(config: EnvironmentConfig, version: int = 3) -> str:
    return f"arn:aws:sagemaker:{config.region}:{config.account}:model-package/esteira-{config.name}-model/{version}"


def synthesize(
    env: str,
    outdir: Path,
    config: EnvironmentConfig | None = None,
    *,
    git_commit: str = "unknown",
    path_metadata: bool = False,
) -> SynthesizedEnv:
    """``path_metadata``: as the cdk CLI synthesizes (each resource's construct path in its Metadata)."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    if path_metadata:
        context = {**context, "aws:cdk:enable-path-metadata": True}
    config = config or load_config(env)
    app = App(context=context, outdir=str(outdir), analytics_reporting=False)
    # As app.py builds them: an environment the delivery pipeline deploys has its links to it.
    stacks = build_stacks(app, config, git_commit=git_commit, delivery=delivery_links(config))
    attach_checks(app)
    app.synth()
    prefix = f"Esteira-{env}-"
    return SynthesizedEnv(
        config=config,
        assembly_dir=outdir,
        templates={
            stack.stack_name.removeprefix(prefix): Template.from_json(
                json.loads((outdir / stack.template_file).read_text())
            )
            for stack in stacks
        },
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SynthesizedEnv]:
    cache: dict[str, SynthesizedEnv] = {}

    def get(env: str) -> SynthesizedEnv:
        if env not in cache:
            outdir = tmp_path_factory.mktemp(f"cdk-{env}")
            cache[env] = synthesize(env, outdir, git_commit=GIT_COMMIT, path_metadata=True)
        return cache[env]

    return get


@pytest.fixture(scope="session")
def synth_with_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SynthesizedEnv]:
    """Each environment as `cdk synth -c model_package_arn=...` builds it: one champion variant. The environments the
    delivery pipeline promotes to serve the registry's package (served_package_arn), as their pipeline stages do in
    synth_delivery(True): so this is the hand deploy test_hand_deploys.py compares with those stages."""
    cache: dict[str, SynthesizedEnv] = {}

    def get(env: str) -> SynthesizedEnv:
        if env not in cache:
            config = load_config(env).with_model_package(served_package_arn(env))
            outdir = tmp_path_factory.mktemp(f"cdk-{env}-model")
            cache[env] = synthesize(env, outdir, config, git_commit=GIT_COMMIT, path_metadata=True)
        return cache[env]

    return get


@dataclass(frozen=True)
class SynthesizedDelivery:
    delivery: DeliveryConfig
    assembly_dir: Path
    pipeline: Template
    stages: dict[str, dict[str, Template]]  # by env, then stack component

    @property
    def validation_report(self) -> dict[str, object]:
        report: dict[str, object] = json.loads((self.assembly_dir / "validation-report.json").read_text())
        return report

    def template_files(self) -> list[Path]:
        return sorted(
            [*self.assembly_dir.glob("*.template.json"), *self.assembly_dir.glob("assembly-*/*.template.json")]
        )


def registry_package_arn(delivery: DeliveryConfig, version: int = 7) -> str:
    return model_package_arn(load_config(delivery.promotion.registry_env), version)


def served_package_arn(env: str) -> str:
    """The package synth_with_model(env) serves: the registry's in the environments the pipeline promotes to, else
    the environment's own group's."""
    delivery = load_delivery_config()
    if env in delivery.promoted_envs():
        return registry_package_arn(delivery)
    return model_package_arn(load_config(env))


def synthesize_delivery(outdir: Path, model_package: str | None) -> SynthesizedDelivery:
    """`cdk synth -c delivery=pipeline [-c model_package_arn=...]`, in process."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    delivery = load_delivery_config()
    # As the cdk CLI does: cfn-lint recognizes CDK templates by this metadata and skips its Fn::Sub style check.
    app = App(context={**context, "aws:cdk:enable-path-metadata": True}, outdir=str(outdir), analytics_reporting=False)
    stack = build_delivery(app, delivery, model_package, git_commit=GIT_COMMIT)
    attach_checks(app)
    app.synth()
    stages = {
        stage.config.name: {
            child.stack_name.removeprefix(f"Esteira-{stage.config.name}-"): Template.from_stack(child)
            for child in stage.stacks
        }
        for stage in stack.stages
    }
    return SynthesizedDelivery(
        delivery=delivery,
        assembly_dir=outdir,
        pipeline=Template.from_json(json.loads((outdir / stack.template_file).read_text())),
        stages=stages,
    )


@pytest.fixture(scope="session")
def synth_delivery(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bool], SynthesizedDelivery]:
    """The delivery app, without a promoted package (a push) or with the registry's version 7 (an approval)."""
    cache: dict[bool, SynthesizedDelivery] = {}

    def get(with_model: bool) -> SynthesizedDelivery:
        if with_model not in cache:
            delivery = load_delivery_config()
            cache[with_model] = synthesize_delivery(
                tmp_path_factory.mktemp(f"cdk-delivery-{'model' if with_model else 'push'}"),
                registry_package_arn(delivery) if with_model else None,
            )
        return cache[with_model]

    return get


@pytest.fixture(scope="session")
def template_scans(
    synth: Callable[[str], SynthesizedEnv],
    synth_with_model: Callable[[str], SynthesizedEnv],
    synth_delivery: Callable[[bool], SynthesizedDelivery],
    tmp_path_factory: pytest.TempPathFactory,
) -> "TemplateScans":
    """cfn-lint over every template set and checkov over what `make checkov` scans, both started now (linters.py)."""
    from tests.stacks.linters import TemplateScans  # linters imports this module

    lint_sets = [
        *(synth(env).template_files() for env in ENVS),
        *(synth_with_model(env).template_files() for env in ENVS),
        *(synth_delivery(with_model).template_files() for with_model in (False, True)),
    ]
    # As `make checkov` synthesizes: each environment serving a model package, and the delivery app (a push).
    checkov_templates = [path for env in ENVS for path in synth_with_model(env).template_files()]
    checkov_templates += synth_delivery(False).template_files()
    lint_templates = [path for files in lint_sets for path in files]
    return TemplateScans.start(lint_templates, checkov_templates, tmp_path_factory.mktemp("linters"))


# The delivery pipeline's stage for an environment nests its stacks' construct paths under this one, and its nested
# assembly names the asset folders one level up.
STAGE_PATH = re.compile(r"Esteira-delivery-pipeline/[a-z0-9-]+/")
NESTED_ASSET_PATH = '"../asset.'


def without_stage_paths(text: str, env: str | None = None) -> str:
    """A stage's template text as a hand synth of its environment writes it: construct paths without the stage's path
    (only env's stage's when given), asset folders as the top-level assembly names them."""
    stage_path = STAGE_PATH if env is None else re.compile(re.escape(f"Esteira-delivery-pipeline/{env}/"))
    return stage_path.sub("", text).replace(NESTED_ASSET_PATH, '"asset.')


def deployed_view(assembly_dir: Path, env: str) -> str:
    """What deploying an assembly's stacks creates, as text: each stack name's template without CDKMetadata (usage
    analytics: a compressed list of construct paths), the delivery stage's path prefix removed from the construct
    paths (metadata, asset paths, the VPC's Name tags), so that a hand synth and the pipeline's stage compare."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    by_stack: dict[str, dict[str, Any]] = {
        artifact["properties"].get("stackName", artifact_id): json.loads(
            (assembly_dir / artifact["properties"]["templateFile"]).read_text()
        )
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    for template in by_stack.values():
        template["Resources"].pop("CDKMetadata", None)
    return without_stage_paths(json.dumps(by_stack, sort_keys=True), env)
