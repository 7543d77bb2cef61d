"""Stage aws: moto in server mode for S3, SQS, DynamoDB, SageMaker's registry and Secrets Manager."""

from __future__ import annotations

import os

import boto3

from pipeline import aws
from pipeline.context import RunContext
from pipeline.options import REPO


def run(ctx: RunContext) -> None:
    with ctx.progress.stage("aws", "moto server for S3, SQS, DynamoDB, SageMaker registry, Secrets Manager") as st:
        endpoints = aws.start_moto(ctx.children, ctx.logs, REPO)
        aws.apply_environment(aws.local_aws_environment(endpoints.main, endpoints.dynamodb))
        os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "esteira-local")
        os.environ["POWERTOOLS_LOG_LEVEL"] = os.environ.get("ESTEIRA_PIPELINE_LAMBDA_LOG_LEVEL", "ERROR")
        ctx.session = boto3.session.Session()
        ctx.resources = aws.create_resources(ctx.session, ctx.config.batch.max_receive_count)
        # One registry file per spec: a spec's champion is never another spec's model.
        ctx.registry = aws.Registry(ctx.out / "registry" / f"{ctx.spec.extraction.name}.json")
        ctx.registry.replay(ctx.session.client("sagemaker"))
        ctx.report["aws"] = {
            "endpoint": endpoints.main,
            "dynamodb_endpoint": endpoints.dynamodb,
            "registry_packages": len(ctx.registry.packages),
        }
        restored = len(ctx.registry.packages)
        st.summary = f"{endpoints.main} (DynamoDB {endpoints.dynamodb}); {restored} registered model(s) restored"
