"""The delivery's EventBridge routing, run on moto's EventBridge: a registry decision is forwarded from the registry
environment and reaches the promoter only when it should."""

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from moto.server import ThreadedMotoServer

from tests.stacks.conftest import REPO_ROOT, SynthesizedDelivery

Delivery = Callable[[bool], SynthesizedDelivery]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "delivery"


@pytest.fixture
def delivery(synth_delivery: Delivery) -> Delivery:
    return synth_delivery


@pytest.fixture(scope="module")
def aws() -> Iterator[Callable[[str, str], Any]]:
    """Clients of one moto server, over HTTP, in a given account (moto maps assumed-role keys to their account)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = {"endpoint_url": f"http://{host}:{port}", "region_name": "eu-west-1"}

    def client(service: str, account: str) -> Any:
        sts = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **endpoint)
        role = f"arn:aws:iam::{account}:role/events-test"
        credentials = sts.assume_role(RoleArn=role, RoleSessionName="events-test")["Credentials"]
        return boto3.client(
            service,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            **endpoint,
        )

    try:
        yield client
    finally:
        server.stop()


def decision_event(status: str, account: str | None = None) -> dict[str, Any]:
    name = "approved" if status == "Approved" else "rejected"
    event: dict[str, Any] = json.loads((FIXTURES / f"model_package_{name}_event.json").read_text())
    if account:
        event["account"] = account
    return event


def matching_rules(aws: Callable[[str, str], Any], template: Template, event: dict[str, Any]) -> int:
    """How many of the template's rules EventBridge (moto's) delivers `event` to: each rule gets its own queue.

    The event is put in its own account, as SageMaker puts it; a rule is tried on its own bus.
    """
    events, sqs = aws("events", event["account"]), aws("sqs", event["account"])
    bus = f"bus-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    queues = []
    for index, rule in enumerate(template.find_resources("AWS::Events::Rule").values()):
        url = sqs.create_queue(QueueName=f"{bus}-{index}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name=f"rule-{index}", EventBusName=bus, EventPattern=json.dumps(rule["Properties"]["EventPattern"])
        )
        events.put_targets(Rule=f"rule-{index}", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
        queues.append(url)
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
        "EventBusName": bus,
    }
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    return sum(bool(sqs.receive_message(QueueUrl=url).get("Messages")) for url in queues)


@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_a_registry_decision_is_forwarded_and_reaches_the_promoter(
    delivery: Delivery, aws: Callable[[str, str], Any], status: str
) -> None:
    # GIVEN the registry's event for a decision (the promoter's own test fixture)
    event = decision_event(status)
    # THEN staging forwards it (and tells the team about an approval), and one rule hands it to the promoter
    assert matching_rules(aws, delivery(False).stages["staging"]["Training"], event) == (
        2 if status == "Approved" else 1
    )
    assert matching_rules(aws, delivery(False).pipeline, event) == 1


def test_a_pending_package_reaches_no_promoter(delivery: Delivery, aws: Callable[[str, str], Any]) -> None:
    pending = decision_event("Approved")
    pending["detail"]["ModelApprovalStatus"] = "PendingManualApproval"
    assert matching_rules(aws, delivery(False).pipeline, pending) == 0
    assert matching_rules(aws, delivery(False).stages["staging"]["Training"], pending) == 0


def test_an_approval_from_another_account_reaches_no_promoter(
    delivery: Delivery, aws: Callable[[str, str], Any]
) -> None:
    assert matching_rules(aws, delivery(False).pipeline, decision_event("Approved", account="999999999999")) == 0
