"""A faithful re-implementation of the seed's fan-out loop (seed 000), for the benchmark only.

Reads the whole transform output with ``json.loads`` and calls ``SendMessage`` once per prediction, into a FIFO
queue with one ``MessageGroupId`` and the ``recomendado-para-voce`` string attribute. No retries, no dedup id (the
queue needs content-based deduplication for these sends to be accepted), no dead-letter handling.
"""

from __future__ import annotations

import json
from typing import Any


def seed_fanout(s3: Any, sqs: Any, bucket: str, key: str, queue_url: str) -> int:
    predictions = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    for prediction in predictions:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(prediction),
            MessageGroupId="recomendacoes",
            MessageAttributes={
                "recomendado-para-voce": {"DataType": "String", "StringValue": str(prediction["label"])}
            },
        )
    return len(predictions)
