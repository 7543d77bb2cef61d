"""The diagram's vocabulary: which resource types are drawn and how, and the graph of nodes and edges."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Template = Mapping[str, Any]


@dataclass(frozen=True)
class Kind:
    label: str
    shape: str
    fill: str
    name_path: tuple[str, ...] = ()  # where the resource's literal physical name is, if any


_COMPUTE, _STORE, _EVENT, _ML, _SECURITY, _OPS = "#ffe8cc", "#d9ecff", "#f3e1ff", "#dff5e1", "#fde2e2", "#eeeeee"

# The resource types worth drawing. Everything else (IAM, log groups, policies, custom resources, metadata) is noise.
KINDS: dict[str, Kind] = {
    "AWS::Athena::WorkGroup": Kind("Athena workgroup", "box", _STORE, ("Name",)),
    "AWS::ApplicationAutoScaling::ScalableTarget": Kind("autoscaling target", "box", _OPS),
    "AWS::CloudWatch::Alarm": Kind("CloudWatch alarms", "note", _OPS),
    "AWS::CloudWatch::Dashboard": Kind("CloudWatch dashboard", "note", _OPS),
    "AWS::DynamoDB::GlobalTable": Kind("DynamoDB table", "cylinder", _STORE, ("TableName",)),
    "AWS::DynamoDB::Table": Kind("DynamoDB table", "cylinder", _STORE, ("TableName",)),
    "AWS::ECR::Repository": Kind("ECR repository", "cylinder", _STORE, ("RepositoryName",)),
    "AWS::Events::Rule": Kind("EventBridge rule", "hexagon", _EVENT),
    "AWS::Glue::Connection": Kind("Glue connection", "box", _COMPUTE, ("ConnectionInput", "Name")),
    "AWS::Glue::Database": Kind("Glue database", "cylinder", _STORE, ("DatabaseInput", "Name")),
    "AWS::Glue::Job": Kind("Glue job", "box", _COMPUTE, ("Name",)),
    "AWS::Glue::Table": Kind("Glue table", "cylinder", _STORE, ("TableInput", "Name")),
    "AWS::Glue::Trigger": Kind("Glue trigger", "hexagon", _EVENT, ("Name",)),
    "AWS::KMS::Key": Kind("KMS key", "octagon", _SECURITY),
    "AWS::Lambda::Function": Kind("Lambda function", "box", _COMPUTE, ("FunctionName",)),
    "AWS::S3::Bucket": Kind("S3 bucket", "cylinder", _STORE, ("BucketName",)),
    "AWS::SNS::Topic": Kind("SNS topic", "hexagon", _EVENT, ("TopicName",)),
    "AWS::SQS::Queue": Kind("SQS queue", "box3d", _EVENT, ("QueueName",)),
    "AWS::SageMaker::DataQualityJobDefinition": Kind("data quality job", "box", _ML, ("JobDefinitionName",)),
    "AWS::SageMaker::Endpoint": Kind("SageMaker endpoint", "box", _ML, ("EndpointName",)),
    "AWS::SageMaker::EndpointConfig": Kind("endpoint config", "box", _ML, ("EndpointConfigName",)),
    "AWS::SageMaker::Model": Kind("SageMaker model", "box", _ML, ("ModelName",)),
    "AWS::SageMaker::ModelPackageGroup": Kind("model package group", "cylinder", _ML, ("ModelPackageGroupName",)),
    "AWS::SageMaker::MonitoringSchedule": Kind("monitoring schedule", "hexagon", _ML, ("MonitoringScheduleName",)),
    "AWS::SecretsManager::Secret": Kind("secret", "octagon", _SECURITY, ("Name",)),
    "AWS::StepFunctions::StateMachine": Kind("state machine", "box", _COMPUTE, ("StateMachineName",)),
}
ALARM_TYPE = "AWS::CloudWatch::Alarm"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
# Hubs whose edges would drown the picture: they are counted in the node's label instead of drawn.
HUB_TARGETS = frozenset({"AWS::KMS::Key"})  # everything is encrypted with the key
HUB_SOURCES = frozenset({"AWS::CloudWatch::Dashboard"})  # the dashboard shows everything
# Edges from these to what they watch are drawn light; their edges to an SNS topic are the alerting path.
OBSERVERS = frozenset({ALARM_TYPE})
ALERT_TARGETS = frozenset({"AWS::SNS::Topic"})
# Free text that merely mentions names.

_HASH_SUFFIX = re.compile(r"^(?P<name>.+?)[0-9A-F]{8}$")


@dataclass(frozen=True, order=True)
class Node:
    id: str
    stack: str
    label: str
    kind: str  # resource type
    members: tuple[str, ...] = ()  # grouped resources (alarms)
    note: str = ""


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    style: str = "flow"  # flow | event | observe | both


@dataclass
class Graph:
    stacks: list[str]  # component names, in app order
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[Edge] = field(default_factory=set)

    def clustered(self) -> Iterator[tuple[str, list[Node]]]:
        for stack in self.stacks:
            yield stack, sorted(node for node in self.nodes.values() if node.stack == stack)


def short_logical_id(logical_id: str) -> str:
    """`ExtractionJobE0C7C401` -> `ExtractionJob`: the logical id without CDK's 8-hex-digit hash suffix."""
    match = _HASH_SUFFIX.match(logical_id)
    return match.group("name") if match else logical_id


def component_of(stack_name: str) -> str:
    """`Esteira-prod-DataPlatform` -> `DataPlatform`."""
    return stack_name.rsplit("-", 1)[-1]
