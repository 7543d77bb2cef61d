"""The extraction job's arguments: what the Glue job (``glue_jobs/esteira_extract``) reads from ``--name value``.

The construct (``stacks/constructs/extraction.py``) builds :class:`ExtractionJobArgs` and sets ``to_args()`` as the
job's default arguments; the job's ``main()`` and the local run (``python -m pipeline``) parse them with
``from_args()``. The job gets the Secrets Manager secret's id, never credentials.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import ClassVar, Self

from esteira_contracts._base import ArgsContract, is_token, setting

# Where the job reads and writes: an S3 URI with a bucket, a file:// URI, or a local path (local runs and tests).
URI_PATTERN = r"(?:s3a?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/.*)?|file://.+|(?![A-Za-z][A-Za-z0-9+.-]*:).+)"
URI_HELP = "an s3://bucket/key URI, a file:// URI or a local path"
# A run id names output folders (run_id=R) and manifests (R.json): no '/', no spaces, bounded.
RUN_ID_PATTERN = r"[A-Za-z0-9_.-]{1,128}"
JDBC_URL_PATTERN = r"jdbc:[a-z0-9]+:\S+"
# Secrets Manager's SecretId: a secret name (letters, digits, /_+=.@-) or its ARN.
SECRET_ID_PATTERN = r"[A-Za-z0-9/_+=.@:-]{1,2048}"
DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
# jdbc:sqlite: files carry no credentials, so only they may run without a secret (local runs only).
SECRETLESS_JDBC_PREFIX = "jdbc:sqlite:"
LOCAL_RUN_ID_PREFIX = "local-"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExtractionJobArgs(ArgsContract):
    """Everything one extraction run needs. Holds the secret's id, never credentials.

    Unset ``run_date`` means today (UTC); unset ``run_id`` means Glue's ``JOB_RUN_ID``, else ``local-<time>-<hex>``:
    see :meth:`resolved`.
    """

    component: ClassVar[str] = "extraction job"

    spec_uri: str = setting("spec_uri", pattern=URI_PATTERN, pattern_help=URI_HELP)
    secret_id: str | None = setting(
        "secret_id", default=None, pattern=SECRET_ID_PATTERN, pattern_help="a Secrets Manager secret name or ARN"
    )
    jdbc_url: str = setting("jdbc_url", pattern=JDBC_URL_PATTERN, pattern_help="a jdbc:<subprotocol>:... URL")
    raw_uri: str = setting("raw_uri", pattern=URI_PATTERN, pattern_help=URI_HELP)
    curated_uri: str = setting("curated_uri", pattern=URI_PATTERN, pattern_help=URI_HELP)
    quarantine_uri: str = setting("quarantine_uri", pattern=URI_PATTERN, pattern_help=URI_HELP)
    state_uri: str = setting("state_uri", pattern=URI_PATTERN, pattern_help=URI_HELP)
    run_date: str | None = setting("run_date", default=None, pattern=DATE_PATTERN, pattern_help="a date YYYY-MM-DD")
    run_id: str | None = setting(
        "run_id", default=None, pattern=RUN_ID_PATTERN, pattern_help=f"a run id matching {RUN_ID_PATTERN}"
    )
    # The CA bundle the database's certificate must chain to (esteira_extract.tls): a file of the job library's
    # esteira_extract/certs/ or an absolute path; unset for the packaged default.
    tls_ca_bundle: str | None = setting(
        "tls_ca_bundle", default=None, pattern=r"[A-Za-z0-9_./-]{1,1024}", pattern_help="a CA bundle file name or path"
    )
    # Set by Glue itself on every run (never by the construct); names the run when --run_id is not given.
    job_run_id: str | None = setting(
        "JOB_RUN_ID", default=None, pattern=RUN_ID_PATTERN, pattern_help=f"a run id matching {RUN_ID_PATTERN}"
    )

    def problems(self) -> list[str]:
        problems = []
        url = self.jdbc_url.lower()
        if not is_token(url) and ("password=" in url or "user=" in url):
            problems.append("jdbc_url must not carry credentials; they come from secret_id")
        if not self.secret_id and not self.jdbc_url.startswith(SECRETLESS_JDBC_PREFIX):
            problems.append(f"secret_id is required (only {SECRETLESS_JDBC_PREFIX} sources may omit it)")
        if self.run_date is not None and not is_token(self.run_date):
            try:
                date.fromisoformat(self.run_date)
            except ValueError:
                problems.append(f"run_date={self.run_date!r} is not a calendar date YYYY-MM-DD")
        return problems

    # --- what a run uses -----------------------------------------------------------------------------------------
    def resolved(self, now: datetime | None = None) -> Self:
        """These arguments with ``run_date`` and ``run_id`` filled in (the defaults); idempotent."""
        now = now or datetime.now(UTC)
        run_id = self.run_id or self.job_run_id or f"{LOCAL_RUN_ID_PREFIX}{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        return dataclasses.replace(self, run_date=self.run_date or now.date().isoformat(), run_id=run_id)

    @property
    def run_day(self) -> date:
        """The run's partition date; call on :meth:`resolved` arguments."""
        if self.run_date is None:
            raise ValueError("run_date is unset: call resolved() first")
        return date.fromisoformat(self.run_date)

    @property
    def effective_run_id(self) -> str:
        """The run's id; call on :meth:`resolved` arguments."""
        if self.run_id is None:
            raise ValueError("run_id is unset: call resolved() first")
        return self.run_id
