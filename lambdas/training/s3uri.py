"""``s3://bucket/key`` URIs: parse, build and check them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: object) -> S3Uri:
        """Raise ``ValueError`` unless ``uri`` is ``s3://<bucket>/<key>`` (the key may be empty)."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ValueError(f"{uri!r} is not an s3:// URI")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket or any(c in bucket for c in " \t\n/"):
            raise ValueError(f"{uri!r} has no valid bucket name")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def as_prefix(self) -> S3Uri:
        """The same URI ending with exactly one '/' (a folder)."""
        return S3Uri(self.bucket, self.key.rstrip("/") + "/" if self.key.strip("/") else "")

    def join(self, *parts: str) -> S3Uri:
        key = self.key.rstrip("/")
        for part in parts:
            key = f"{key}/{part.strip('/')}" if key else part.strip("/")
        return S3Uri(self.bucket, key)

    @property
    def parent(self) -> S3Uri:
        """The folder holding this object (ends with '/')."""
        head, _, _ = self.key.rstrip("/").rpartition("/")
        return S3Uri(self.bucket, f"{head}/" if head else "")

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rpartition("/")[2]
