"""Tighter resources: prod tables refuse deletion, captured and produced data expire, each workload has its own
security group, and the extraction job names the CA its reads verify against."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks import names
from stacks.config import ConfigError, load_config
from stacks.delivery_config import delivery_links
from tests.stacks.conftest import ENVS, SynthesizedEnv
from tests.stacks.test_config import write_env


def bucket_rules(template: Template, logical_id_prefix: str) -> dict[str, dict[str, Any]]:
    buckets = {
        logical_id: resource
        for logical_id, resource in template.find_resources("AWS::S3::Bucket").items()
        if logical_id.startswith(logical_id_prefix)
    }
    (bucket,) = buckets.values()
    rules: list[dict[str, Any]] = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    return {rule["Id"]: rule for rule in rules}


@pytest.mark.parametrize("env", ENVS)
def test_prod_tables_have_deletion_protection(synth: Callable[[str], SynthesizedEnv], env: str) -> None:
    # GIVEN each environment's batch tables
    synthesized = synth(env)
    tables = synthesized.templates["Batch"].find_resources("AWS::DynamoDB::GlobalTable")
    assert len(tables) == 2
    for table in tables.values():
        protections = {replica.get("DeletionProtectionEnabled") for replica in table["Properties"]["Replicas"]}
        # THEN an environment that retains its data (prod, and staging which prod depends on) protects them; a
        # throwaway one does not
        links = delivery_links(synthesized.config)
        assert protections == {(links.applied_to(synthesized.config) if links else synthesized.config).retain}
    assert synth("prod").config.retain


@pytest.mark.parametrize("env", ENVS)
def test_capture_monitoring_and_batch_outputs_expire_as_configured(
    synth: Callable[[str], SynthesizedEnv], env: str
) -> None:
    synthesized = synth(env)
    storage = synthesized.config.storage
    data = synthesized.templates["DataPlatform"]
    artifacts = bucket_rules(data, "LakeArtifacts")
    assert artifacts["ExpireDataCapture"]["Prefix"] == names.DATA_CAPTURE_PREFIX
    assert artifacts["ExpireDataCapture"]["ExpirationInDays"] == storage.data_capture_expiration_days
    assert artifacts["ExpireMonitoringReports"]["Prefix"] == names.MONITORING_REPORTS_PREFIX
    assert artifacts["ExpireMonitoringReports"]["ExpirationInDays"] == storage.monitoring_reports_expiration_days
    # The monitoring baseline has no expiry: the schedule reads it as long as the endpoint serves
    assert not [rule for rule in artifacts.values() if rule.get("Prefix", "").startswith("monitoring/baseline")]
    predictions = bucket_rules(data, "LakePredictions")
    for rule_id, prefix in (
        ("ExpireBatchOutput", names.BATCH_OUTPUT_PREFIX),
        ("ExpireFanoutSummaries", names.FANOUT_SUMMARY_PREFIX),
    ):
        assert predictions[rule_id]["Prefix"] == prefix
        assert predictions[rule_id]["ExpirationInDays"] == storage.batch_output_expiration_days


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("storage.data_capture_expiration_days", 1, "storage.data_capture_expiration_days (1) must be at least 2"),
        ("storage.data_capture_expiration_days", 0, "storage.data_capture_expiration_days"),
        ("storage.monitoring_reports_expiration_days", 0, "storage.monitoring_reports_expiration_days"),
        ("storage.batch_output_expiration_days", 5000, "storage.batch_output_expiration_days"),
        ("source_database.tls_ca_bundle", "rds.p12", "tls_ca_bundle 'rds.p12': PostgreSQL verifies with a PEM"),
        ("source_database.tls_ca_bundle", "../etc/ca.pem", "source_database.tls_ca_bundle"),
    ],
)
def test_a_bad_retention_or_bundle_names_its_key(tmp_path: Path, key: str, value: object, message: str) -> None:
    # GIVEN staging's config (it monitors its endpoint) with one bad value
    with pytest.raises(ConfigError) as raised:
        load_config("staging", write_env(tmp_path, "staging", {key: value}))
    assert message in str(raised.value)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_each_workload_in_an_existing_network_has_its_own_security_group(
    synth_with_model: Callable[[str], SynthesizedEnv], env: str
) -> None:
    synthesized = synth_with_model(env)
    configured = set(synthesized.config.network.security_group_ids)
    templates = synthesized.templates
    # GIVEN the extraction job: it keeps the configured groups, which the database admits
    (connection, *_) = templates["DataPlatform"].find_resources("AWS::Glue::Connection").values()
    requirements = connection["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"]
    assert set(requirements["SecurityGroupIdList"]) <= configured
    # THEN serving, training and batch each use a group of their own, and none uses the configured ones
    groups = templates["DataPlatform"].find_resources("AWS::EC2::SecurityGroup")
    own = {workload: f"Network{workload.capitalize()}SecurityGroup" for workload in ("serving", "training", "batch")}
    for workload, prefix in own.items():
        assert [logical_id for logical_id in groups if logical_id.startswith(prefix)], workload
    for component, workload in (("Serving", "serving"), ("Training", "training"), ("Batch", "batch")):
        text = json.dumps(templates[component].to_json())
        assert own[workload] in text, f"{component} does not use its own group"
        assert not [other for name, other in own.items() if name != workload and other in text], component
        assert not [group for group in configured if group in text], f"{component} uses the extraction job's group"


@pytest.mark.parametrize("env", ENVS)
def test_the_extraction_job_names_its_ca_bundle(synth: Callable[[str], SynthesizedEnv], env: str) -> None:
    synthesized = synth(env)
    (job,) = synthesized.templates["DataPlatform"].find_resources("AWS::Glue::Job").values()
    arguments = job["Properties"]["DefaultArguments"]
    assert arguments["--tls_ca_bundle"] == synthesized.config.source_database.tls_ca_bundle
    assert "ssl" not in arguments["--jdbc_url"].lower()


def test_the_shipped_configs_verify_against_the_rds_bundle() -> None:
    for env in ENVS:
        assert load_config(env).source_database.tls_ca_bundle == "rds-global-bundle.pem"
