"""Find ``evaluation.json`` inside the training job's tarballs, streaming them from S3.

The tarball is read as a forward-only gzip stream (``tarfile`` mode ``r|gz`` over the S3 ``StreamingBody``): nothing
is written to disk and only the wanted member is held in memory. SageMaker uploads the container's
``/opt/ml/output/data`` as ``<job>/output/output.tar.gz`` next to ``model.tar.gz``; both hold evaluation.json.
The small output.tar.gz is preferred; model.tar.gz (which also holds the model) is the fallback.
"""

from __future__ import annotations

import gzip
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from esteira_contracts.layout import EVALUATION_FILENAME
from training.errors import EvaluationNotFound, InvalidEvaluation
from training.s3uri import S3Uri

OUTPUT_TARBALL = "output.tar.gz"
MAX_EVALUATION_BYTES = 5 * 1024 * 1024
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class Lookup:
    """The member's bytes, or None with ``detail`` saying why the tarball did not yield it."""

    data: bytes | None
    detail: str


def _depth(name: str) -> int | None:
    """0 for ``evaluation.json`` at the archive root, n for n folders deep, None for any other member."""
    path = posixpath.normpath(name)
    if posixpath.basename(path) != EVALUATION_FILENAME or path.startswith("../") or path.startswith("/"):
        return None
    return path.count("/")


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, source: S3Uri) -> bytes:
    if member.size > MAX_EVALUATION_BYTES:
        raise InvalidEvaluation(
            f"{member.name} in {source} is {member.size} bytes, more than {MAX_EVALUATION_BYTES}; not an evaluation"
        )
    handle = archive.extractfile(member)
    if handle is None:  # pragma: no cover - regular files always have a handle
        raise InvalidEvaluation(f"{member.name} in {source} cannot be read")
    return handle.read()


def read_evaluation_member(s3: Any, uri: S3Uri) -> Lookup:
    """Stream ``uri`` and return its root-level evaluation.json (else the shallowest nested one)."""
    try:
        response = s3.get_object(Bucket=uri.bucket, Key=uri.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
            return Lookup(None, "does not exist")
        raise
    body = response["Body"]
    best: tuple[int, bytes] | None = None
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as archive:
            for member in archive:
                depth = _depth(member.name)
                if depth is None or not member.isfile():
                    continue
                if best is not None and depth >= best[0]:
                    continue
                best = (depth, _read_member(archive, member, uri))
                if depth == 0:
                    break  # stop reading the stream: the rest (e.g. the model) is never downloaded
    except _CORRUPT as exc:
        if best is None:
            return Lookup(None, f"is not a readable .tar.gz ({type(exc).__name__}: {exc})")
    finally:
        body.close()
    if best is None:
        return Lookup(None, f"holds no {EVALUATION_FILENAME}")
    return Lookup(best[1], "found")


def find_evaluation(s3: Any, model_artifacts: S3Uri) -> tuple[S3Uri, bytes]:
    """(tarball it came from, evaluation.json bytes): output.tar.gz first, then model.tar.gz."""
    candidates = [model_artifacts.parent.join(OUTPUT_TARBALL), model_artifacts]
    misses: list[str] = []
    for uri in dict.fromkeys(candidates):
        found = read_evaluation_member(s3, uri)
        if found.data is not None:
            return uri, found.data
        misses.append(f"{uri} {found.detail}")
    raise EvaluationNotFound(f"no {EVALUATION_FILENAME} in the training job's outputs: " + "; ".join(misses))
