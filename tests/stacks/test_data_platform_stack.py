"""Fine-grained assertions on the data platform stack, per environment."""

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts.extraction import ExtractionJobArgs
from stacks import names
from tests.stacks.conftest import ENVS, SynthesizedEnv

Synth = Callable[[str], SynthesizedEnv]
DATA_BUCKETS = 4  # raw, curated, artifacts, predictions; plus the access-log bucket


def data_platform(synth: Synth, env: str) -> Template:
    return synth(env).templates["DataPlatform"]


@pytest.mark.parametrize("env", ENVS)
def test_customer_managed_key_rotates(synth: Synth, env: str) -> None:
    template = data_platform(synth, env)
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


@pytest.mark.parametrize("env", ENVS)
def test_every_bucket_is_encrypted_private_versioned_and_lifecycled(synth: Synth, env: str) -> None:
    template = data_platform(synth, env)
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == DATA_BUCKETS + 1
    kms_encrypted = 0
    for bucket in buckets.values():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        kms_encrypted += rule["SSEAlgorithm"] == "aws:kms"
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["LifecycleConfiguration"]["Rules"], "every bucket has lifecycle rules"
    # The access-log bucket uses SSE-S3 because S3 server access logging cannot write to SSE-KMS buckets.
    assert kms_encrypted == DATA_BUCKETS
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [Match.string_like_regexp("DataKey"), "Arn"]},
                        },
                    }
                ]
            },
            "LoggingConfiguration": {"DestinationBucketName": Match.any_value()},
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_every_bucket_denies_plain_http_and_old_tls(synth: Synth, env: str) -> None:
    template = data_platform(synth, env)
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == DATA_BUCKETS + 1
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
        assert any(s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies)


@pytest.mark.parametrize(
    ("env", "deletion_policy", "auto_delete"),
    # staging holds the registry prod serves from: it retains whatever its `removal` says (DeliveryLinks.retains_data)
    [("dev", "Delete", True), ("staging", "Retain", False), ("prod", "Retain", False)],
)
def test_removal_policy_follows_config(synth: Synth, env: str, deletion_policy: str, auto_delete: bool) -> None:
    template = data_platform(synth, env)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::Glue::Database"):
        for logical_id, resource in template.find_resources(resource_type).items():
            assert resource["DeletionPolicy"] == deletion_policy, f"{logical_id} in {env}"
    template.resource_count_is("Custom::S3AutoDeleteObjects", DATA_BUCKETS + 1 if auto_delete else 0)


@pytest.mark.parametrize("env", ENVS)
def test_extraction_runs_daily_at_two_utc(synth: Synth, env: str) -> None:
    synthesized = synth(env)
    synthesized.templates["DataPlatform"].has_resource_properties(
        "AWS::Glue::Trigger",
        {
            "Type": "SCHEDULED",
            "Schedule": synthesized.config.extraction.schedule,
            "StartOnCreation": True,
            "Actions": [{"JobName": {"Ref": Match.string_like_regexp("ExtractionJob")}}],
        },
    )
    assert synthesized.config.extraction.schedule == "cron(0 2 * * ? *)"


@pytest.mark.parametrize("env", ENVS)
def test_job_is_glue_5_in_the_configured_network_with_kms_security(synth: Synth, env: str) -> None:
    synthesized = synth(env)
    template = synthesized.templates["DataPlatform"]
    subnet_count = len(synthesized.config.network.availability_zones(synthesized.config.region))
    template.resource_count_is("AWS::Glue::Connection", subnet_count)
    template.has_resource_properties(
        "AWS::Glue::Job",
        {
            "GlueVersion": "5.0",
            "Command": {"Name": "glueetl", "PythonVersion": "3"},
            "WorkerType": synthesized.config.extraction.worker_type,
            "NumberOfWorkers": synthesized.config.extraction.number_of_workers,
            "Connections": {"Connections": [{"Ref": Match.string_like_regexp("JdbcConnection")}] * subnet_count},
            "SecurityConfiguration": {"Ref": Match.string_like_regexp("SecurityConfiguration")},
            "ExecutionProperty": {"MaxConcurrentRuns": 1},
        },
    )
    template.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": Match.any_value()}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": Match.any_value()},
                "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": Match.any_value()},
            }
        },
    )
    template.has_resource_properties(
        "AWS::Glue::Connection",
        {
            "ConnectionInput": Match.object_like(
                {
                    "ConnectionType": "JDBC",
                    "ConnectionProperties": Match.object_like(
                        {"JDBC_CONNECTION_URL": synthesized.config.source_database.jdbc_url, "JDBC_ENFORCE_SSL": "true"}
                    ),
                }
            )
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_no_credential_appears_in_job_arguments(synth: Synth, env: str) -> None:
    template = data_platform(synth, env)
    (job,) = template.find_resources("AWS::Glue::Job").values()
    arguments = job["Properties"]["DefaultArguments"]
    serialized = json.dumps(arguments).lower()
    for forbidden in ("password", "--user", "username", "resolve:secretsmanager", "secretstring"):
        assert forbidden not in serialized
    # The job gets the secret's ARN and reads the value at run time.
    (secret_id,) = template.find_resources("AWS::SecretsManager::Secret").keys()
    assert arguments["--secret_id"] == {"Ref": secret_id}


# Arguments Glue itself consumes (its documented job parameters), set by the construct or by CDK's PySparkEtlJob;
# the job's script never reads them. Everything else in DefaultArguments must be the contract's.
GLUE_OWN_ARGUMENTS = frozenset(
    {
        "--TempDir",  # Glue's temporary directory (construct: the curated bucket's glue-temp/ prefix)
        "--extra-py-files",  # the job's library zip (CDK: extra_python_files)
        "--job-language",  # python (CDK: PySparkEtlJob)
        "--enable-metrics",  # CDK: enable_metrics
        "--enable-observability-metrics",  # CDK: enable_observability_metrics
        "--enable-continuous-cloudwatch-log",  # CDK: continuous_logging
        "--enable-continuous-log-filter",  # CDK: continuous_logging quiet=True
        "--continuous-log-logGroup",  # CDK: continuous_logging log_group
        "--enable-job-insights",  # construct
        "--enable-glue-datacatalog",  # construct
    }
)


def representative_value(value: Any, template: Template, config: Any) -> str:
    """A deploy-time value as CloudFormation would resolve it: bucket names for bucket Refs, the secret's ARN."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return str(separator).join(representative_value(part, template, config) for part in parts)
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        logical_id = value["Ref"]
        resource_type = template.to_json()["Resources"][logical_id]["Type"]
        if resource_type == "AWS::S3::Bucket":
            return f"esteira-{config.name}-{logical_id.lower()}"[:63]
        if resource_type == "AWS::SecretsManager::Secret":
            name = config.source_database.secret_name
            return f"arn:aws:secretsmanager:{config.region}:{config.account}:secret:{name}-AbCdEf"
    raise AssertionError(f"no representative value for {value!r}: teach this test the new intrinsic")


@pytest.mark.parametrize("env", ENVS)
def test_job_default_arguments_are_exactly_the_extraction_contract(synth: Synth, env: str) -> None:
    # GIVEN the job's DefaultArguments in the env's synth, deploy-time values replaced by representative ones
    synthesized = synth(env)
    template = synthesized.templates["DataPlatform"]
    (job,) = template.find_resources("AWS::Glue::Job").values()
    own = {
        name: representative_value(value, template, synthesized.config)
        for name, value in job["Properties"]["DefaultArguments"].items()
        if name not in GLUE_OWN_ARGUMENTS
    }

    # WHEN the job parses them as its main() does (argv-shaped: --name value)
    parsed = ExtractionJobArgs.from_args([item for pair in own.items() for item in pair])

    # THEN every argument is the contract's (none unknown), none is missing, and they render back the same
    contract_names = {f"--{name}" for name in ExtractionJobArgs.names()}
    assert set(own) <= contract_names, set(own) - contract_names
    assert {f"--{name}" for name in ExtractionJobArgs.required_names()} <= set(own)
    assert parsed.secret_id is not None and parsed.secret_id.startswith("arn:aws:secretsmanager:")
    assert parsed.jdbc_url == synthesized.config.source_database.jdbc_url
    assert parsed.raw_uri.endswith(f"/{names.RAW_EXTRACTION_PREFIX}employees/")
    assert parsed.to_args() == own
    # Glue reserves some names for itself; the contract's own names never collide with them.
    assert not contract_names & (GLUE_OWN_ARGUMENTS | {"--conf", "--debug", "--mode", "--JOB_NAME"})


@pytest.mark.parametrize("env", ENVS)
def test_secret_is_encrypted_with_the_data_key(synth: Synth, env: str) -> None:
    data_platform(synth, env).has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Name": f"esteira/{env}/source-db",
            "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("DataKey"), "Arn"]},
            "GenerateSecretString": Match.object_like({"GenerateStringKey": "password"}),
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_failures_notify_the_encrypted_alerts_topic(synth: Synth, env: str) -> None:
    template = data_platform(synth, env)
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"TopicName": f"esteira-{env}-alerts", "KmsMasterKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]}},
    )
    (topic_id,) = template.find_resources("AWS::SNS::Topic").keys()
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.glue"],
                "detail-type": ["Glue Job State Change"],
                "detail": {
                    "jobName": [f"esteira-{env}-extract"],
                    "state": Match.array_with(["FAILED", "TIMEOUT"]),
                },
            },
            "Targets": [Match.object_like({"Arn": {"Ref": topic_id}})],
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_success_event_is_a_rule_other_stacks_can_subscribe_to(synth: Synth, env: str) -> None:
    data_platform(synth, env).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.glue"],
                "detail-type": ["Glue Job State Change"],
                "detail": {"jobName": [f"esteira-{env}-extract"], "state": ["SUCCEEDED"]},
            },
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_curated_table_is_queryable_by_partition_from_an_encrypted_workgroup(synth: Synth, env: str) -> None:
    template = data_platform(synth, env)
    template.has_resource_properties(
        "AWS::Glue::Table",
        {
            "TableInput": Match.object_like(
                {
                    "Name": "employees",
                    "PartitionKeys": [{"Name": names.EXTRACTION_PARTITION_KEY, "Type": "string"}],
                    "Parameters": Match.object_like(
                        {
                            "projection.enabled": "true",
                            "projection.dt.type": "date",
                            "projection.dt.format": "yyyy-MM-dd",
                        }
                    ),
                    "StorageDescriptor": Match.object_like(
                        {"InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"}
                    ),
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": {
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": Match.any_value()},
                        "OutputLocation": Match.any_value(),
                    },
                }
            )
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_every_log_group_is_encrypted_and_expires(synth: Synth, env: str) -> None:
    template = data_platform(synth, env)
    log_groups = template.find_resources("AWS::Logs::LogGroup")
    assert log_groups
    for logical_id, log_group in log_groups.items():
        assert "KmsKeyId" in log_group["Properties"], logical_id
        assert log_group["Properties"]["RetentionInDays"] == synth(env).config.log_retention_days


def test_dev_creates_an_isolated_vpc_and_other_envs_use_the_configured_one(synth: Synth) -> None:
    dev = data_platform(synth, "dev")
    dev.resource_count_is("AWS::EC2::VPC", 1)
    dev.resource_count_is("AWS::EC2::NatGateway", 0)
    dev.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})
    dev.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})
    prod = synth("prod")
    prod_template = prod.templates["DataPlatform"]
    prod_template.resource_count_is("AWS::EC2::VPC", 0)
    prod_template.has_resource_properties(
        "AWS::Glue::Connection",
        {
            "ConnectionInput": Match.object_like(
                {
                    "PhysicalConnectionRequirements": {
                        "SubnetId": prod.config.network.subnets[0].id,
                        "AvailabilityZone": prod.config.network.subnets[0].availability_zone,
                        "SecurityGroupIdList": list(prod.config.network.security_group_ids),
                    }
                }
            )
        },
    )


def test_job_library_asset_holds_the_packages_as_real_files_without_bytecode(synth: Synth) -> None:
    # GIVEN the synthesized dev assembly (a developer machine has __pycache__ folders everywhere)
    assembly = synth("dev").assembly_dir
    # WHEN the library asset is found
    (library,) = [
        path
        for path in assembly.glob("asset.*")
        if (path / "esteira_extract").is_dir() and not (path / "esteira_dataset").exists()
    ]
    # THEN its root is the job's package and the contracts it parses its arguments with, and no bytecode ships
    assert sorted(child.name for child in library.iterdir()) == ["esteira_contracts", "esteira_extract"]
    assert (library / "esteira_extract" / "__init__.py").is_file()
    # The contracts are copied through glue_jobs/esteira_contracts (a symlink): real files, not a link.
    contracts = library / "esteira_contracts"
    assert not contracts.is_symlink() and not any(path.is_symlink() for path in contracts.rglob("*"))
    assert (contracts / "extraction.py").is_file() and (contracts / "_base.py").is_file()
    assert not list(library.rglob("__pycache__")) and not list(library.rglob("*.pyc"))


def test_dataset_job_library_asset_holds_its_package_the_extractions_and_the_contracts(synth: Synth) -> None:
    # GIVEN the synthesized dev assembly WHEN the dataset job's library asset is found
    (library,) = [path for path in synth("dev").assembly_dir.glob("asset.*") if (path / "esteira_dataset").is_dir()]
    # THEN it holds the dataset package, the extraction helpers it reuses and the contracts, as real files
    assert sorted(child.name for child in library.iterdir()) == [
        "esteira_contracts",
        "esteira_dataset",
        "esteira_extract",
    ]
    assert (library / "esteira_contracts" / "dataset.py").is_file()
    assert not any(path.is_symlink() for path in library.rglob("*"))
    assert not list(library.rglob("__pycache__")) and not list(library.rglob("*.pyc"))
