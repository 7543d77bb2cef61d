"""The extraction job's argument contract: renders what it parses, and every bad argument is named."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.extraction import ExtractionJobArgs

ARGS = ExtractionJobArgs(
    spec_uri="s3://cdk-assets-111111111111-eu-west-1/0123.json",
    secret_id="arn:aws:secretsmanager:eu-west-1:111111111111:secret:esteira/dev/source-db-AbCdEf",
    jdbc_url="jdbc:postgresql://source-db.dev.internal:5432/rh",
    raw_uri="s3://esteira-dev-raw/extractions/employees/",
    curated_uri="s3://esteira-dev-curated/extractions/employees/",
    quarantine_uri="s3://esteira-dev-curated/quarantine/employees/",
    state_uri="s3://esteira-dev-curated/state/employees/watermark.json",
)


def argv(args: dict[str, str]) -> list[str]:
    return [item for pair in args.items() for item in pair]


def test_given_the_stacks_arguments_when_rendered_and_parsed_back_then_they_round_trip() -> None:
    rendered = ARGS.to_args()

    assert set(rendered) == {f"--{name}" for name in ExtractionJobArgs.required_names()} | {"--secret_id"}
    assert ExtractionJobArgs.from_args(argv(rendered)) == ARGS
    # Glue's getResolvedOptions hands over a mapping without the dashes.
    assert ExtractionJobArgs.from_args({k.removeprefix("--"): v for k, v in rendered.items()}) == ARGS


def test_given_a_local_run_when_rendered_then_local_paths_run_id_and_no_secret_round_trip() -> None:
    local = ExtractionJobArgs(
        spec_uri="/repo/glue_jobs/specs/employees.json",
        jdbc_url="jdbc:sqlite:/tmp/out/source/hr.db",
        raw_uri="/tmp/out dir/lake/raw",
        curated_uri="file:///tmp/out/lake/curated",
        quarantine_uri="/tmp/out/lake/quarantine",
        state_uri="/tmp/out/lake/state/employees.json",
        run_date="2025-07-01",
        run_id="esteira-local-20250701-120000",
    )

    rendered = local.to_args()

    assert "--secret_id" not in rendered
    assert ExtractionJobArgs.from_args(["extract_job.py", *argv(rendered)][1:]) == local
    assert ExtractionJobArgs.from_args([f"{k}={v}" for k, v in rendered.items()]) == local


def test_given_no_run_id_or_date_when_resolved_then_glue_run_id_else_local_id_and_today_utc() -> None:
    now = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)

    from_glue = ExtractionJobArgs.from_args(argv({**ARGS.to_args(), "--JOB_RUN_ID": "jr_0123abcd"})).resolved(now)
    local = ARGS.resolved(now)

    assert (from_glue.effective_run_id, from_glue.run_day) == ("jr_0123abcd", date(2025, 7, 1))
    assert local.effective_run_id.startswith("local-20250701T123000Z-")
    assert local.resolved() == local  # idempotent: a resolved run keeps its id
    assert ExtractionJobArgs.from_args(argv({**ARGS.to_args(), "--run_id": "r1"})).resolved(now).run_id == "r1"
    with pytest.raises(ValueError, match="resolved"):
        _ = ARGS.effective_run_id


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("--spec_uri", None, "spec_uri is required"),
        ("--state_uri", "", "state_uri is required"),
        ("--raw_uri", "http://example.com/raw", "raw_uri='http://example.com/raw' is not an s3://bucket/key URI"),
        ("--curated_uri", "s3://", "curated_uri='s3://' is not an s3://bucket/key URI"),
        ("--quarantine_uri", "s3://Bad_Bucket/q/", "quarantine_uri='s3://Bad_Bucket/q/' is not"),
        ("--jdbc_url", "postgresql://db/rh", "jdbc_url='postgresql://db/rh' is not a jdbc:<subprotocol>:... URL"),
        ("--jdbc_url", "jdbc:postgresql://db/rh?user=a&password=b", "jdbc_url must not carry credentials"),
        ("--secret_id", None, "secret_id is required (only jdbc:sqlite: sources may omit it)"),
        ("--secret_id", "my secret", "secret_id='my secret' is not a Secrets Manager secret name or ARN"),
        ("--run_id", "../escape", "run_id='../escape' is not a run id"),
        ("--run_id", "x" * 129, "run_id="),
        ("--JOB_RUN_ID", "jr 1", "JOB_RUN_ID='jr 1' is not a run id"),
        ("--run_date", "01/07/2025", "run_date='01/07/2025' is not a date YYYY-MM-DD"),
        ("--run_date", "2025-02-30", "run_date='2025-02-30' is not a calendar date"),
    ],
)
def test_given_a_bad_argument_when_parsed_then_the_error_names_it(name: str, value: str | None, expected: str) -> None:
    args: dict[str, str] = {k: v for k, v in ARGS.to_args().items() if k != name}
    if value is not None:
        args[name] = value

    with pytest.raises(SettingsError) as info:
        ExtractionJobArgs.from_args(argv(args))

    assert str(info.value).startswith("extraction job settings: ")
    assert expected in str(info.value)


def test_given_several_bad_arguments_when_parsed_then_each_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        ExtractionJobArgs.from_args(["--raw_uri", "ftp://x", "--run_id", "a/b"])

    message = str(info.value)
    for name in ("spec_uri", "jdbc_url", "curated_uri", "quarantine_uri", "state_uri", "raw_uri", "run_id"):
        assert name in message


def test_given_a_bad_concrete_value_when_the_construct_renders_then_synth_fails_naming_it() -> None:
    bad = ExtractionJobArgs(**{**ARGS.__dict__, "jdbc_url": "jdbc:postgresql://db/rh?password=x"})

    with pytest.raises(SettingsError, match="jdbc_url must not carry credentials"):
        bad.to_args()


def test_given_deploy_time_tokens_when_rendered_then_they_pass_through_unchecked() -> None:
    token = "${Token[TOKEN.123]}"
    deployed = ExtractionJobArgs(**{**ARGS.__dict__, "raw_uri": f"s3://{token}/extractions/employees/"})

    assert deployed.to_args()["--raw_uri"] == f"s3://{token}/extractions/employees/"


def test_given_the_contract_then_it_holds_the_secrets_id_never_credentials() -> None:
    names = {name.lower() for name in ExtractionJobArgs.names()}

    assert not any(word in name for name in names for word in ("password", "user", "credential"))
    assert "secret_id" in names
