"""The cost estimator on the real configs and price table, and its errors."""

import json
import re
from pathlib import Path

import pytest
import yaml

from stacks.config import CONFIG_DIR, available_envs, load_config
from stacks.config_base import parse_yaml
from tools.cost import (
    LINE_ITEMS,
    PRICE_TABLE,
    CostError,
    Estimate,
    Usage,
    estimate,
    items,
    load_price_table,
    main,
    runs_per_month,
)

REPO_ROOT = CONFIG_DIR.parent


@pytest.fixture(scope="module")
def estimates() -> dict[str, Estimate]:
    table = load_price_table()
    return {env: estimate(load_config(env), table) for env in available_envs()}


def test_every_env_has_assumptions() -> None:
    assert set(available_envs()) <= set(load_price_table().assumptions)


def test_dev_has_no_always_on_instance_and_costs_least(estimates: dict[str, Estimate]) -> None:
    dev, staging, prod = estimates["dev"], estimates["staging"], estimates["prod"]
    assert dev.always_on_instances == 0
    assert dev.always_on_instance_hours == 0
    assert not [line for line in dev.lines if line.item.startswith("endpoint instances")]
    assert dev.total_usd < staging.total_usd < prod.total_usd


def test_prod_endpoint_is_instance_count_times_730_hours(estimates: dict[str, Estimate]) -> None:
    config = load_config("prod")
    table = load_price_table()
    line = estimates["prod"].line("SageMaker", "endpoint instances")
    price = table.prices.sagemaker_hosting.by_instance_type[config.serving.instance_type]
    count = max(config.serving.initial_instance_count, config.serving.autoscaling.min_capacity)
    assert line.monthly_usd == pytest.approx(count * 730 * price)
    assert estimates["prod"].always_on_instances == count
    assert "no model configured yet: assuming one champion variant" in estimates["prod"].notes


def test_configured_variants_are_each_priced() -> None:
    base = load_config("prod")
    config = base.with_model_package("arn:aws:sagemaker:eu-west-1:333333333333:model-package/esteira-prod-model/1")
    result = estimate(config, load_price_table())
    assert result.line("SageMaker", "endpoint instances (champion").quantity == 2 * 730
    assert not any("no model configured" in note for note in result.notes)


def test_spot_discount_applies_to_training(estimates: dict[str, Estimate]) -> None:
    table = load_price_table()
    config = load_config("prod")
    assert config.training.spot
    on_demand = table.prices.sagemaker_training.by_instance_type[config.training.instance_type]
    discount = table.prices.training_spot_discount.value
    line = estimates["prod"].line("SageMaker", "training")
    assert line.unit_price == pytest.approx(on_demand * (1 - discount))

    without_spot = config.model_copy(update={"training": config.training.model_copy(update={"spot": False})})
    assert estimate(without_spot, table).line("SageMaker", "training").unit_price == on_demand


def test_tuning_multiplies_training_by_max_jobs(estimates: dict[str, Estimate]) -> None:
    config = load_config("staging")
    assert config.training.tuning is not None
    assumptions = load_price_table().assumptions["staging"]
    line = estimates["staging"].line("SageMaker", "training")
    expected_hours = (
        assumptions.training_runs_per_month * config.training.tuning.max_jobs * assumptions.training_run_minutes / 60
    )
    assert line.quantity == pytest.approx(expected_hours)
    untuned = config.model_copy(update={"training": config.training.model_copy(update={"tuning": None})})
    untuned_line = estimate(untuned, load_price_table()).line("SageMaker", "training")
    assert line.monthly_usd == pytest.approx(untuned_line.monthly_usd * config.training.tuning.max_jobs)


def test_glue_dpu_hours_follow_workers_and_daily_schedule(estimates: dict[str, Estimate]) -> None:
    config = load_config("prod")
    assumptions = load_price_table().assumptions["prod"]
    line = estimates["prod"].line("Glue", "extraction")
    assert config.extraction.worker_type == "G.2X"
    assert line.quantity == pytest.approx(
        config.extraction.number_of_workers * 2 * assumptions.extraction_run_minutes / 60 * 30
    )
    assert line.unit_price == 0.44


def test_totals_equal_the_sum_of_lines(estimates: dict[str, Estimate]) -> None:
    for result in estimates.values():
        assert result.total_usd == sum(line.monthly_usd for line in result.lines)
        data = result.to_json()
        assert data["total_usd"] == pytest.approx(sum(line["monthly_usd"] for line in data["lines"]), abs=1e-3)


def test_unknown_instance_type_is_named(tmp_path: Path) -> None:
    raw = parse_yaml(PRICE_TABLE.read_text())
    del raw["prices"]["sagemaker_hosting"]["by_instance_type"]["ml.m5.large"]
    bad = tmp_path / "prices.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(CostError, match=r"no price for instance type 'ml\.m5\.large' in prices\.sagemaker_hosting"):
        estimate(load_config("prod"), load_price_table(bad))


def test_invalid_price_table_names_the_key(tmp_path: Path) -> None:
    raw = parse_yaml(PRICE_TABLE.read_text())
    del raw["prices"]["glue_dpu"]["source"]
    bad = tmp_path / "prices.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(CostError, match=r"prices\.glue_dpu\.source"):
        load_price_table(bad)


def test_price_table_is_dated_and_every_price_has_a_source() -> None:
    raw = parse_yaml(PRICE_TABLE.read_text())
    assert str(raw["as_of"]) == "2026-11-01"
    assert raw["region"] == "eu-west-1"
    assert raw["currency"] == "USD"
    for name, entry in raw["prices"].items():
        assert entry.get("source"), name


def test_created_network_endpoints_match_the_network_construct() -> None:
    source = (REPO_ROOT / "stacks" / "constructs" / "network.py").read_text()
    created = re.findall(r"InterfaceVpcEndpointAwsService\.\w+", source)
    assert len(created) == len(load_price_table().created_network_interface_endpoints)


@pytest.mark.parametrize(
    ("schedule", "runs"),
    [
        ("cron(0 2 * * ? *)", 30),
        ("cron(0 */6 * * ? *)", 120),
        ("cron(0,30 8 * * ? *)", 60),
        ("cron(0 5 ? * MON-FRI *)", 30 * 5 / 7),
        ("cron(0 5 1 * ? *)", 1),
    ],
)
def test_runs_per_month(schedule: str, runs: float) -> None:
    assert runs_per_month(schedule, 30) == pytest.approx(runs)


def test_cli_prints_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "dev"]) == 0
    text = capsys.readouterr().out
    assert "always-on instances: 0" in text
    assert "ESTIMATE ONLY" in text
    assert "TOTAL" in text
    assert main(["--env", "prod", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["env"] == "prod"
    assert data["always_on_instances"] == 2
    assert data["assumptions"]["requests_per_day"] > 0


def test_cli_reports_price_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = parse_yaml(PRICE_TABLE.read_text())
    raw["prices"]["sagemaker_training"]["by_instance_type"] = {}
    bad = tmp_path / "prices.yaml"
    bad.write_text(yaml.safe_dump(raw))
    assert main(["--env", "dev", "--prices", str(bad)]) == 2
    assert "ml.m5.large" in capsys.readouterr().err


def test_each_line_item_prices_on_its_own() -> None:
    # GIVEN dev (serverless, a created network) and prod (instances, an existing network)
    table = load_price_table()
    dev, prod = Usage.of(load_config("dev"), table), Usage.of(load_config("prod"), table)
    # WHEN single line items of the table run alone
    # THEN each returns its own lines, or none where it does not apply
    assert [line.item for line in items.vpc_interface_endpoints(dev)] == ["interface endpoints (4 x 2 AZ)"]
    assert items.vpc_interface_endpoints(prod) == []
    assert items.endpoint_instances(dev) == []
    assert len(items.serverless_compute(dev)) == 1
    assert items.serverless_compute(prod) == []
    # AND the estimate is every item's lines, in the table's order
    expected = [line for item in LINE_ITEMS for line in item(prod)]
    assert list(estimate(load_config("prod"), table).lines) == expected
