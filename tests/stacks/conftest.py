"""Synthesizes each environment once per test session, in process, with cdk.json's feature flags."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.app_builder import build_stacks
from stacks.config import EnvironmentConfig, available_envs, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVS = available_envs()


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


def synthesize(env: str, outdir: Path, config: EnvironmentConfig | None = None) -> SynthesizedEnv:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    config = config or load_config(env)
    app = App(context=context, outdir=str(outdir), analytics_reporting=False)
    stacks = build_stacks(app, config)
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
            cache[env] = synthesize(env, tmp_path_factory.mktemp(f"cdk-{env}"))
        return cache[env]

    return get


@pytest.fixture(scope="session")
def synth_with_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SynthesizedEnv]:
    """Each environment as `cdk synth -c model_package_arn=...` builds it: one champion variant."""
    cache: dict[str, SynthesizedEnv] = {}

    def get(env: str) -> SynthesizedEnv:
        if env not in cache:
            base = load_config(env)
            config = base.with_model_package(model_package_arn(base))
            cache[env] = synthesize(env, tmp_path_factory.mktemp(f"cdk-{env}-model"), config)
        return cache[env]

    return get
