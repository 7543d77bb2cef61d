"""Tiny URI helpers: small JSON/text objects go through boto3 for ``s3://`` and the filesystem
otherwise; Spark paths are derived with :func:`spark_path`.

boto3 clients are created per call (never at import), so the standard ``AWS_ENDPOINT_URL`` /
``AWS_REGION`` environment variables in effect at call time are honoured.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if not parsed.netloc:
        raise ValueError(f"not an s3 URI (no bucket): {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def join_uri(base: str, *parts: str) -> str:
    """Join path segments onto a URI or local path with exactly one '/' between segments."""
    out = base.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def spark_path(uri: str) -> str:
    """A path Spark can write to: s3 URIs are kept as-is (Glue's EMRFS understands s3://), local
    paths become absolute ``file://`` URIs so Spark never resolves them against HDFS/cwd."""
    if is_s3(uri):
        return uri
    # Not Path.as_uri(): it percent-encodes '=' and Hadoop would create "dt%3D..." folders.
    return "file://" + str(local_path(uri).resolve())


def _s3_client() -> Any:
    # importlib keeps mypy strict without boto3 stubs (Glue ships boto3; the stubs are not needed).
    return importlib.import_module("boto3").client("s3")


def read_text(uri: str) -> str | None:
    """The object's text, or None when it does not exist."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = _s3_client()
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None
        return str(body.decode("utf-8"))
    path = local_path(uri)
    return path.read_text(encoding="utf-8") if path.exists() else None


def write_text(uri: str, text: str, content_type: str = "application/json") -> None:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _s3_client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type)
        return
    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic on POSIX: readers see the old or the new object, never half


def read_json(uri: str) -> dict[str, Any] | None:
    text = read_text(uri)
    if text is None:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object at {uri}")
    return data


def write_json(uri: str, data: dict[str, Any]) -> None:
    write_text(uri, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def delete_tree(uri: str) -> None:
    """Delete everything under ``uri`` (a folder). Missing folders are fine."""
    if is_s3(uri):
        bucket, prefix = split_s3(uri)
        prefix = prefix.rstrip("/") + "/"
        client = _s3_client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        return
    shutil.rmtree(local_path(uri), ignore_errors=True)


def delete_object(uri: str) -> None:
    """Delete one object/file. Missing is fine."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _s3_client().delete_object(Bucket=bucket, Key=key)
        return
    local_path(uri).unlink(missing_ok=True)
