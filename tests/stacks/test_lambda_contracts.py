"""Every Lambda the stacks synthesize is configured as its contract parses it, and runs the tests' Python.

For each function in each environment's templates (and the delivery pipeline's, with a promoted package pinned in
its stages) the environment the template sets is read back through the handler's contract, ``from_env()``: no
variable the contract requires is missing, none is unknown to it, and every value parses. Values known only at
deploy time (a ``Ref``, a ``Fn::GetAtt``, a ``Fn::Join`` around one) are replaced by a representative concrete
value of the same kind, so the contract's checks of that setting run on a realistic value.
"""

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template

from esteira_contracts import EnvContract, SettingsError
from esteira_contracts.batch import ConsumerSettings, LauncherSettings
from esteira_contracts.bias import BiasGateSettings, ClarifySettings
from esteira_contracts.delivery import PromoterSettings
from esteira_contracts.fanout import FanoutSettings
from esteira_contracts.model_quality import QualityPublisherSettings
from esteira_contracts.retraining import RetrainSettings
from esteira_contracts.served import RecorderSettings
from esteira_contracts.training import EvaluateSettings, PrepareSettings
from stacks.constructs.python_function import LAMBDAS_DIR
from tests.stacks.conftest import ENVS, SynthesizedDelivery, SynthesizedEnv

# Handler -> the contract its handler parses with from_env().
CONTRACTS: dict[str, type[EnvContract]] = {
    "batch.launcher.handler.handler": LauncherSettings,
    "batch.consumer.handler.handler": ConsumerSettings,
    "batch.fanout.handler.handler": FanoutSettings,
    "delivery.promote.handler.handler": PromoterSettings,
    "delivery.promote.served_handler.handler": RecorderSettings,
    "training.prepare.handler.handler": PrepareSettings,
    "training.evaluate.handler.handler": EvaluateSettings,
    "training.retrain.handler.handler": RetrainSettings,
    "training.quality.handler.handler": QualityPublisherSettings,
    "training.clarify.handler.handler": ClarifySettings,
    "training.bias_gate.handler.handler": BiasGateSettings,
}
# Set on every function by PythonFunction for Powertools (in the layer), which reads them itself; no contract does.
POWERTOOLS_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"})
# What a deploy-time value resolves to, by variable: a value of the kind AWS returns for the intrinsic used.
REPRESENTATIVE = {
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::111111111111:role/Esteira-dev-Serving-TransformRole1A2B3C4D-AbCdEf123456",
    "PREDICTIONS_BUCKET": "esteira-dev-predictions-111111111111",
    "KMS_KEY_ID": "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "MODEL_PACKAGE_ARN": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/esteira-dev-model/3",
    "SUBNET_IDS": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "SECURITY_GROUP_IDS": "sg-0123456789abcdef0",
    "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/esteira-dev-predictions.fifo",
    "PREDICTIONS_TABLE": "esteira-dev-predictions",
    "IDEMPOTENCY_TABLE": "esteira-dev-predictions-idempotency",
    "PIPELINE_NAME": "esteira-delivery",
    "ARTIFACTS_BUCKET": "esteira-dev-artifacts-111111111111",
    "CURATED_URI": "s3://esteira-dev-curated-111111111111/extractions/employees/",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:111111111111:stateMachine:esteira-prod-training",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:111111111111:Esteira-prod-DataPlatform-AlertsTopic1A2B3C4D-AbCdEf",
    "DEBOUNCE_TABLE": "esteira-prod-retraining",
}
# CDK's own custom resource providers (auto-delete objects, restrict the default security group, the
# AwsCustomResource function that looks up S3's prefix list): CDK's code, in CDK's runtime.
CDK_PROVIDER_MARKS = ("CustomResourceProviderHandler", "AWS679f53fac002430cb0da5b7982bd2287")

Function = tuple[str, str, dict[str, Any]]  # where (template and logical id), handler, properties


def functions(templates: dict[str, Template], where: str) -> Iterator[Function]:
    for component, template in sorted(templates.items()):
        for logical_id, resource in sorted(template.find_resources("AWS::Lambda::Function").items()):
            if not any(mark in logical_id for mark in CDK_PROVIDER_MARKS):
                props = resource["Properties"]
                yield f"{where}/{component}/{logical_id}", props["Handler"], props


def all_functions(
    synth: Callable[[str], SynthesizedEnv], synth_delivery: Callable[[bool], SynthesizedDelivery]
) -> list[Function]:
    found = [function for env in ENVS for function in functions(synth(env).templates, env)]
    delivery = synth_delivery(True)
    found += functions({"Pipeline": delivery.pipeline}, "delivery")
    for env, templates in delivery.stages.items():
        found += functions(templates, f"delivery-stage-{env}")
    return found


def concrete(where: str, name: str, value: Any) -> str:
    """The template's value, or the representative value of a variable resolved at deploy time."""
    if isinstance(value, str):
        return value
    if name not in REPRESENTATIVE:
        pytest.fail(f"{where}: {name} is set at deploy time ({value}); add a representative value to REPRESENTATIVE")
    return REPRESENTATIVE[name]


def test_every_lambda_environment_parses_with_its_contract(
    synth: Callable[[str], SynthesizedEnv], synth_delivery: Callable[[bool], SynthesizedDelivery]
) -> None:
    # GIVEN every Lambda function of every environment and of the delivery pipeline
    found = all_functions(synth, synth_delivery)
    problems = []
    for where, handler, props in found:
        contract = CONTRACTS.get(handler)
        if contract is None:
            problems.append(f"{where}: handler {handler!r} has no contract in CONTRACTS")
            continue
        variables = props.get("Environment", {}).get("Variables", {})
        environ = {name: concrete(where, name, value) for name, value in variables.items()}
        # WHEN its environment is read through its handler's contract
        try:
            contract.from_env(environ)
        except SettingsError as error:
            problems.append(f"{where}: {error}")
        # THEN nothing it requires is missing and nothing set is unknown to it
        missing = set(contract.required_names()) - set(environ)
        unknown = set(environ) - set(contract.names()) - POWERTOOLS_VARIABLES
        problems += [f"{where}: {handler} requires {name}, which is not set" for name in sorted(missing)]
        problems += [f"{where}: {name} is set but {contract.__name__} does not read it" for name in sorted(unknown)]
    assert problems == []
    # AND every contract was exercised by at least one function
    assert {handler for _, handler, _ in found} >= set(CONTRACTS)


def test_every_lambda_runs_the_python_the_tests_run(
    synth: Callable[[str], SynthesizedEnv], synth_delivery: Callable[[bool], SynthesizedDelivery]
) -> None:
    # GIVEN the Python of this test run WHEN every Lambda of every synthesized template is read
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    runtimes = {where: props["Runtime"] for where, _, props in all_functions(synth, synth_delivery)}
    # THEN each runs that Python, and there are functions to check
    assert runtimes
    assert {where: runtime for where, runtime in runtimes.items() if runtime != python} == {}


@pytest.mark.parametrize("handler", sorted(CONTRACTS))
def test_mapped_handlers_exist(handler: str) -> None:
    # GIVEN a handler named above WHEN looked up under lambdas/ THEN its module exists (no stale entry)
    module, _, _ = handler.rpartition(".")
    assert (LAMBDAS_DIR / (module.replace(".", "/") + ".py")).is_file()
