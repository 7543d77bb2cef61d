"""A retraining runs the real training definition: the retrain trigger's input reaches Prepare, which trains on the
latest extraction, and the trigger's reason stays in the execution's input and output.

Uses the deployment of ``test_training_execution.py`` (moto's Step Functions interpreter running the synthesized
definition, the real Lambda handlers in process), and the retrain trigger's real logic against the same moto.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from esteira_contracts.retraining import TRIGGER_DATA_QUALITY, RetrainSettings
from tests.stacks.test_training_execution import (  # noqa: F401 - fixtures used by name
    aws,
    deployed,
    execution_output,
    monkeypatch_module,
    moto_sfn,
)
from tests.stacks.training_execution_harness import (
    Deployed,
    notifications,
    put_extraction,
    put_model,
    wait_for_execution,
)
from training.retrain.logic import Clients, handle

SCHEDULE_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:monitoring-schedule/esteira-dev-endpoint-data-quality"
VIOLATIONS_EVENT = {
    "source": "aws.sagemaker",
    "detail-type": "SageMaker Processing Job State Change",
    "detail": {
        "ProcessingJobName": "model-monitoring-202612060800-abc",
        "ProcessingJobStatus": "Completed",
        "ExitMessage": "CompletedWithViolations: Job completed successfully with 2 violations.",
        "MonitoringScheduleArn": SCHEDULE_ARN,
    },
}


def wait(client: Callable[[str], Any], execution_arn: str) -> dict[str, Any]:
    return wait_for_execution(client("stepfunctions"), execution_arn)


def test_a_violation_retrains_on_the_latest_extraction(aws: Callable[[str], Any], deployed: Deployed) -> None:  # noqa: F811
    # GIVEN a committed extraction (its manifest is latest.json), a model that clears the gate, and a debounce table
    put_extraction(aws, deployed, "jr_latest")
    put_model(aws, deployed, auc=0.9)
    table = f"esteira-dev-retraining-{uuid.uuid4().hex[:8]}"
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "env", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "env", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    settings = RetrainSettings(
        env_name="dev", state_machine_arn=deployed.state_machine_arn, topic_arn=deployed.topic_arn, table_name=table
    )
    clients = Clients(dynamodb=aws("dynamodb"), stepfunctions=aws("stepfunctions"), sns=aws("sns"))

    # WHEN a monitoring execution completes with violations
    decided = handle(VIOLATIONS_EVENT, settings, clients, datetime.now(UTC))

    # THEN the training it starts succeeds on the latest extraction run, registering a model
    assert decided["decision"] == "triggered"
    execution = wait(aws, decided["execution_arn"])
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    output = execution_output(execution)
    assert output["prepare"]["run_id"] == "jr_latest"
    # AND the reason and trigger travel with the execution, in its input and its output
    for document in (json.loads(execution["input"]), output):
        assert document["source"] == "retraining"
        assert document["trigger"] == TRIGGER_DATA_QUALITY
        assert document["reason"] == decided["reason"]
    # AND the team heard both: the retraining started, saying why, then the model registered
    messages = notifications(aws, deployed)
    outcomes = {message.get("outcome") or message.get("decision") for message in messages}
    assert {"triggered", "registered"} <= outcomes
    (started,) = [message for message in messages if message.get("decision") == "triggered"]
    assert started["reason"] == decided["reason"] and started["trigger"] == TRIGGER_DATA_QUALITY
    assert started["execution_arn"] == decided["execution_arn"]
