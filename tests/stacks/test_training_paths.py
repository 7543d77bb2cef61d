"""The training definition's typed result paths (``training_paths.py``): every read of a step's result names a
field of the class that step produces, in the bare-Stack definition and in every synthesized environment."""

import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from esteira_contracts.training import PrepareResult, field_names
from stacks.constructs.training_paths import (
    BaselineJobResult,
    DatasetJobResult,
    DatasetManifest,
    ModelQualityResult,
    RegistrationResult,
    TrainingChannels,
    TrainingJobResult,
    TuningResult,
    path,
    result_path,
    selector,
)
from tests.stacks.conftest import ENVS, SynthesizedEnv
from tests.stacks.training_definition_builder import (
    CLARIFY_LAMBDA_RESULTS,
    LAMBDA_RESULTS,
    TRAINING,
    TUNING,
    asl,
    build,
)

# The state that produces each result: the Lambdas' (LAMBDA_RESULTS) are the contracts', the rest the definition's.
SELECTED_RESULTS: dict[str, type[Any]] = {
    "Train": TrainingJobResult,
    "DescribeBestTrainingJob": TrainingJobResult,
    "Tune": TuningResult,
    "Register": RegistrationResult,
    "Baseline": BaselineJobResult,
    "Dataset": DatasetJobResult,
    "ReadDatasetManifest": DatasetManifest,
    "PublishModelQuality": ModelQualityResult,
}
# Pass states that write a result of the definition's own.
PASS_RESULTS: dict[str, type[Any]] = {"Channels": TrainingChannels, "ChannelsWithChampion": TrainingChannels}
# Keys whose value is a path the state reads from the execution's state (ResultPath writes; ResultSelector reads
# the task's response, not the state).
READING_KEYS = frozenset({"Variable", "InputPath", "OutputPath", "ErrorPath", "CausePath", "ItemsPath"})
INTRINSIC_ARGUMENT = re.compile(r"\$\.[A-Za-z0-9_.]+")


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    return build(TRAINING)


@pytest.fixture(scope="module")
def tuned() -> dict[str, Any]:
    return build(TRAINING | {"tuning": TUNING})


def reads(node: Any, key: str = "") -> Iterator[str]:
    """Every JSONPath into the execution's state that ``node`` reads."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            if child_key != "ResultSelector":
                yield from reads(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield from reads(child, key)
    elif isinstance(node, str) and node.startswith("$.") and (key.endswith(".$") or key in READING_KEYS):
        yield node
    elif isinstance(node, str) and node.startswith("States.") and key.endswith(".$"):
        yield from INTRINSIC_ARGUMENT.findall(node)  # the paths an intrinsic function (States.Format, ...) reads


def unknown_fields(result: type[Any], field_path: str) -> list[str]:
    """The segments of ``field_path`` (``champion.arn``) that are no field of ``result`` or its nested dataclasses."""
    hints = typing.get_type_hints(result)
    head, _, rest = field_path.partition(".")
    if head not in field_names(result):
        return [field_path]
    nested = [arg for arg in typing.get_args(hints[head]) or [hints[head]] if isinstance(arg, type)]
    if rest and any(hasattr(arg, "__dataclass_fields__") for arg in nested):
        dataclass = next(arg for arg in nested if hasattr(arg, "__dataclass_fields__"))
        return unknown_fields(dataclass, rest)
    return []


def check_result_reads(definition: dict[str, Any]) -> dict[str, int]:
    """Asserts every read of a result names one of its fields; returns how many reads each result had."""
    states = definition["States"]
    producers = {
        name: cls
        for name, cls in (LAMBDA_RESULTS | CLARIFY_LAMBDA_RESULTS | SELECTED_RESULTS | PASS_RESULTS).items()
        if name in states
    }
    slots = {states[name]["ResultPath"]: cls for name, cls in producers.items()}
    all_reads = [read for state in states.values() for read in reads(state)]
    counts: dict[str, int] = {}
    for read in all_reads:
        slot = next((s for s in slots if read.startswith(f"{s}.")), None)
        if slot is None:
            # Not a result: the execution's input or the error a Catch left.
            assert read == "$.run_id" or read.startswith(("$.error.", "$.stop_error.", "$.quality_error.")), read
            continue
        result = slots[slot]
        assert unknown_fields(result, read.removeprefix(f"{slot}.")) == [], f"{read} is no field of {result.__name__}"
        counts[result.__name__] = counts.get(result.__name__, 0) + 1
    for name, cls in SELECTED_RESULTS.items():
        if name in states:
            assert [key.removesuffix(".$") for key in states[name]["ResultSelector"]] == list(field_names(cls)), name
    return counts


# --- typed result paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["trained", "tuned"])
def test_every_read_of_a_result_names_a_field_of_its_class(variant: str, request: pytest.FixtureRequest) -> None:
    # GIVEN the definition; WHEN every JSONPath it reads from a step's result is collected
    counts = check_result_reads(request.getfixturevalue(variant))
    # THEN each names a field (the check above), and the check saw the reads it should have
    assert counts["PrepareResult"] >= 6
    assert counts["EvaluateResult"] >= 6
    assert counts["TrainingJobResult"] >= 5


def test_the_quality_steps_reads_name_fields_too() -> None:
    # GIVEN the definition with PublishModelQuality, whose report URI is a States.Format over Prepare's result
    counts = check_result_reads(build(TRAINING, quality=True))
    # THEN its reads (intrinsic arguments included) name fields of their classes
    assert counts["PrepareResult"] >= 8


@pytest.mark.parametrize("env", ENVS)
def test_every_read_of_a_result_in_the_synthesized_definitions_names_a_field(
    synth: Callable[[str], SynthesizedEnv], env: str
) -> None:
    counts = check_result_reads(asl(synth(env).templates["Training"]))
    assert counts["PrepareResult"] >= 6 and counts["EvaluateResult"] >= 6
    if synth(env).config.training.bias.enabled:
        assert counts["ClarifyResult"] >= 10 and counts["BiasGateResult"] >= 5


def test_lambda_results_live_where_their_states_put_them(trained: dict[str, Any]) -> None:
    for name, result in LAMBDA_RESULTS.items():
        assert trained["States"][name]["ResultPath"] == result_path(result)


def test_a_path_to_a_missing_field_fails_at_synth() -> None:
    assert path(PrepareResult, "train_uri") == "$.prepare.train_uri"
    with pytest.raises(ValueError, match="PrepareResult has no field 'train_url'"):
        path(PrepareResult, "train_url")
    with pytest.raises(ValueError, match="RegistrationResult selector needs exactly model_package_arn"):
        selector(RegistrationResult, {"arn": "$.ModelPackageArn"})
