"""The source secret's rotation and the extraction job's egress: config validation naming the key, and templates."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Match, Template

from stacks.config import CONFIG_DIR, ConfigError, load_config
from stacks.config_base import parse_yaml
from tests.stacks.conftest import ENVS, SynthesizedEnv, synthesize

Synth = Callable[[str], SynthesizedEnv]


def write_env(tmp_path: Path, env: str, source_database: dict[str, Any], **top: Any) -> Path:
    data = parse_yaml((CONFIG_DIR / f"{env}.yaml").read_text())
    data["source_database"].update(source_database)
    data.update(top)
    (tmp_path / f"{env}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def config_error(tmp_path: Path, env: str, source_database: dict[str, Any], **top: Any) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(env, write_env(tmp_path, env, source_database, **top))
    return str(error.value)


@pytest.mark.parametrize(
    "schedule",
    ["rate(3 hours)", "rate(1 hour)", "rate(1001 days)", "rate(24001 hours)", "rate(0 days)", "cron(0 2 * * ? *)"],
)
def test_a_rotation_schedule_secrets_manager_refuses_fails_naming_the_key(tmp_path: Path, schedule: str) -> None:
    # GIVEN a rotation schedule under 4 hours, over 1000 days, or not a rate
    message = config_error(tmp_path, "staging", {"rotation": {"mode": "hosted", "schedule": schedule}})
    # THEN loading fails, naming the file and the key
    assert "staging.yaml" in message
    assert "  - source_database.rotation.schedule:" in message


@pytest.mark.parametrize(("schedule", "hours"), [("rate(4 hours)", 4), ("rate(1 day)", 24), ("rate(1000 days)", 24000)])
def test_the_limits_themselves_are_accepted(tmp_path: Path, schedule: str, hours: int) -> None:
    config = load_config(
        "staging", write_env(tmp_path, "staging", {"rotation": {"mode": "hosted", "schedule": schedule}})
    )
    assert config.source_database.rotation.interval.total_seconds() == hours * 3600


def test_rotation_is_required_and_its_mode_named(tmp_path: Path) -> None:
    data = parse_yaml((CONFIG_DIR / "staging.yaml").read_text())
    del data["source_database"]["rotation"]
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"  - source_database\.rotation:"):
        load_config("staging", tmp_path)
    assert "  - source_database.rotation.mode:" in config_error(
        tmp_path, "staging", {"rotation": {"mode": "sometimes"}}
    )


def test_hosted_rotation_is_for_postgresql_only(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, "staging", {"engine": "mysql", "tls_ca_bundle": "truststore.p12", "rotation": {"mode": "hosted"}}
    )
    assert "rotation.mode 'hosted'" in message and "'external'" in message


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "10.0.0.5/16", "not-a-network", "10.0.0/8"])
def test_a_database_cidr_that_does_not_parse_fails_naming_the_key(tmp_path: Path, cidr: str) -> None:
    message = config_error(tmp_path, "dev", {"cidr": cidr})
    assert "dev.yaml" in message
    assert "  - source_database.cidr:" in message


def test_a_created_network_needs_the_database_cidr_or_group(tmp_path: Path) -> None:
    data = parse_yaml((CONFIG_DIR / "dev.yaml").read_text())
    del data["source_database"]["cidr"]
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"source_database\.cidr or source_database\.security_group_id"):
        load_config("dev", tmp_path)


def test_the_shipped_configs_rotate_with_hosted_rotation_in_every_env() -> None:
    for env in ENVS:
        assert load_config(env).source_database.rotation.mode == "hosted"


@pytest.mark.parametrize("env", ENVS)
def test_the_secret_rotates_on_schedule_in_the_jobs_network(synth: Synth, env: str) -> None:
    # GIVEN each environment's data platform
    synthesized = synth(env)
    template = synthesized.templates["DataPlatform"]
    connection = next(iter(template.find_resources("AWS::Glue::Connection").values()))
    job_groups = connection["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"]["SecurityGroupIdList"]
    (secret_id,) = template.find_resources("AWS::SecretsManager::Secret")
    # THEN Secrets Manager's hosted PostgreSQL single-user rotation runs on the configured schedule
    (rotation,) = template.find_resources("AWS::SecretsManager::RotationSchedule").values()
    properties = rotation["Properties"]
    assert properties["SecretId"] == {"Ref": secret_id}
    assert properties["RotationRules"] == {"ScheduleExpression": synthesized.config.source_database.rotation.schedule}
    hosted = properties["HostedRotationLambda"]
    assert hosted["RotationType"] == "PostgreSQLSingleUser"
    assert hosted["RotationLambdaName"] == f"esteira-{env}-extract-secret-rotation"
    # AND in the job's subnets, with the job's security groups (they reach the database and Secrets Manager)
    assert hosted["VpcSubnetIds"] != ""
    groups = hosted["VpcSecurityGroupIds"]
    if synthesized.config.network.mode == "existing":
        assert groups == ",".join(synthesized.config.network.security_group_ids) == ",".join(job_groups)
    else:
        assert groups == job_groups[0]
    # AND no exception is recorded for rotation
    assert "EsteiraExceptions" not in template.to_json()["Resources"][secret_id].get("Metadata", {})


def test_external_rotation_records_its_reason_and_the_job_rereads_the_secret(tmp_path: Path) -> None:
    # GIVEN staging whose database's owner rotates the password
    config = load_config(
        "staging", write_env(tmp_path, "staging", {"rotation": {"mode": "external", "schedule": "rate(30 days)"}})
    )
    template = synthesize("staging", tmp_path / "cdk.out", config).templates["DataPlatform"]
    # THEN there is no rotation schedule, and the template's metadata records why, as a reasoned exception
    template.resource_count_is("AWS::SecretsManager::RotationSchedule", 0)
    (secret,) = template.find_resources("AWS::SecretsManager::Secret").values()
    (exception,) = secret["Metadata"]["EsteiraExceptions"]
    assert exception["control"] == "secret rotation"
    assert exception["config"] == "source_database.rotation.mode: external"
    assert "re-reads the secret at every run" in exception["reason"]
    # AND the job gets the secret's ARN, never its value: it reads the current password at every run
    (job,) = template.find_resources("AWS::Glue::Job").values()
    arguments = job["Properties"]["DefaultArguments"]
    (secret_id,) = template.find_resources("AWS::SecretsManager::Secret")
    assert {"Ref": secret_id} in arguments.values()
    assert not any("password" in str(name).lower() for name in arguments)


def _job_group(template: Template) -> str:
    (group_id,) = [
        logical_id
        for logical_id, group in template.find_resources("AWS::EC2::SecurityGroup").items()
        if group["Properties"]["GroupDescription"].startswith("Glue job workers")
    ]
    return group_id


def test_the_dev_job_lets_out_only_the_database_port_and_https_to_endpoints_and_s3(synth: Synth) -> None:
    # GIVEN dev, whose network (and the job's group) Esteira creates
    synthesized = synth("dev")
    template = synthesized.templates["DataPlatform"]
    group_id = _job_group(template)
    database = synthesized.config.source_database
    group = template.to_json()["Resources"][group_id]["Properties"]
    # THEN the group's inline egress is the database port to the database's CIDR, and nothing open to the world
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": database.cidr,
            "Description": "The source database's port",
            "FromPort": database.port,
            "ToPort": database.port,
            "IpProtocol": "tcp",
        }
    ]
    # AND every other egress rule is HTTPS to an interface endpoint's group or S3's prefix list, or the workers' own
    egress = [
        rule["Properties"]
        for rule in template.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    endpoint_groups = {
        logical_id
        for logical_id, resource in template.find_resources("AWS::EC2::SecurityGroup").items()
        if "interface endpoint" in resource["Properties"]["GroupDescription"]
    }
    https_to_endpoints = {
        rule["DestinationSecurityGroupId"]["Fn::GetAtt"][0]
        for rule in egress
        if (rule["FromPort"], rule["ToPort"]) == (443, 443) and "DestinationSecurityGroupId" in rule
    }
    assert https_to_endpoints == endpoint_groups and len(endpoint_groups) == 4
    (to_s3,) = [rule for rule in egress if "DestinationPrefixListId" in rule]
    assert (to_s3["FromPort"], to_s3["ToPort"], to_s3["IpProtocol"]) == (443, 443, "tcp")
    (to_self,) = [
        rule for rule in egress if rule.get("DestinationSecurityGroupId") == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert to_self["IpProtocol"] == "tcp"
    assert len(egress) == 6
    assert all("CidrIp" not in rule for rule in egress)
    # AND S3's prefix list is looked up when deploying, for this region
    template.has_resource_properties(
        "Custom::AWS", {"Create": Match.string_like_regexp(f"com.amazonaws.{synthesized.config.region}.s3")}
    )


def test_the_database_can_be_named_by_its_security_group(tmp_path: Path) -> None:
    # GIVEN dev with the database's security group instead of its CIDR
    data = parse_yaml((CONFIG_DIR / "dev.yaml").read_text())
    del data["source_database"]["cidr"]
    data["source_database"]["security_group_id"] = "sg-0123456789abcdef0"
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    template = synthesize("dev", tmp_path / "cdk.out", load_config("dev", tmp_path)).templates["DataPlatform"]
    # THEN the job may reach the database's port on that group only
    group_id = _job_group(template)
    # (CDK's placeholder that allows nothing is the only inline rule)
    inline = template.to_json()["Resources"][group_id]["Properties"]["SecurityGroupEgress"]
    assert [rule["CidrIp"] for rule in inline] == ["255.255.255.255/32"]
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        {
            "GroupId": {"Fn::GetAtt": [group_id, "GroupId"]},
            "DestinationSecurityGroupId": "sg-0123456789abcdef0",
            "FromPort": 5432,
            "ToPort": 5432,
            "IpProtocol": "tcp",
        },
    )
