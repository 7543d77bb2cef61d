"""The extraction job: JDBC source -> raw / curated / quarantine Parquet + manifest + watermark.

Layout (``D`` = run date, ``R`` = run id)::

    <raw_uri>/dt=D/run_id=R/part-*.parquet           rows exactly as read (JDBC types)
    <curated_uri>/dt=D/run_id=R/part-*.parquet       cleaned rows, schema == spec output_columns
    <quarantine_uri>/dt=D/run_id=R/part-*.parquet    rejected rows as read + quarantine_reason(s)
    <curated_uri>/_manifests/dt=D/R.json             manifest of run R
    <curated_uri>/_manifests/latest.json             manifest of the last successful run
    <state_uri>                                      watermark of the last successful run

Idempotency decision: every run writes its own ``run_id=R`` folder under the ``dt=D``
partition (overwrite mode, so re-running with the same ``--run_id`` replaces it). Each
successful run only contains rows changed since the previous successful run's watermark, so
two runs on the same day never write the same row version twice; a changed row reappears in a
later run as its new version (consumers take the latest ``watermark`` value per primary key).
A failed run deletes its own run folders and dated manifest, restores ``latest.json`` and never
writes the watermark, so a retry re-reads the same window without duplicates. (Only a hard kill
can leave an orphan ``run_id=`` folder; it has no manifest, which is how to tell.) Athena/Hive
tables partitioned by ``dt`` read the nested ``run_id=`` folders; Spark sees ``run_id`` as a
second partition column.

Consistency: the source is read from JDBC once, written to raw, and everything downstream is
computed from that raw snapshot, so rows read == rows written + rows quarantined exactly.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as sf

from esteira_extract.jdbc import JdbcSource, read_source
from esteira_extract.manifest import build_manifest, latest_manifest_uri, manifest_uri, write_manifest
from esteira_extract.quarantine import QUARANTINE_RUN_ID, reason_counts, split_valid
from esteira_extract.secrets import DbCredentials, get_db_credentials
from esteira_extract.spec import load_spec
from esteira_extract.storage import delete_object, delete_tree, join_uri, read_text, spark_path, write_text
from esteira_extract.transforms import apply_rules
from esteira_extract.watermark import State, WatermarkStore, max_watermark, utc_now_iso

log = logging.getLogger("esteira_extract")

REQUIRED_ARGS = ("spec_uri", "secret_id", "jdbc_url", "raw_uri", "curated_uri", "quarantine_uri", "state_uri")
OPTIONAL_ARGS = ("run_date", "run_id", "tls_ca_bundle")
RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
ROWS_PER_OUTPUT_FILE = 500_000
DEFAULT_LOCAL_JARS = ("/usr/share/java/postgresql.jar", "/usr/share/java/sqlite-jdbc.jar")


class ExtractionError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    """Everything a run needs. Holds the secret's id, never credentials."""

    spec_uri: str
    secret_id: str
    jdbc_url: str
    raw_uri: str
    curated_uri: str
    quarantine_uri: str
    state_uri: str
    run_date: date
    run_id: str
    # The CA bundle the database's certificate must chain to (esteira_extract.tls); "" for the packaged default.
    tls_ca_bundle: str = ""

    def __post_init__(self) -> None:
        if not RUN_ID.match(self.run_id):
            raise ValueError(f"--run_id {self.run_id!r} must match {RUN_ID.pattern}")
        if "password=" in self.jdbc_url.lower() or "user=" in self.jdbc_url.lower():
            raise ValueError("--jdbc_url must not carry credentials; they come from --secret_id")
        if not self.secret_id and not self.jdbc_url.startswith("jdbc:sqlite:"):
            raise ValueError("--secret_id is required (only jdbc:sqlite sources may omit it)")


def generate_run_id() -> str:
    return f"local-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def settings_from_args(args: Mapping[str, str | None]) -> Settings:
    """Build :class:`Settings` from resolved job arguments (names without ``--``)."""
    # A SQLite file has no credentials: --secret_id may be omitted for jdbc:sqlite (local runs only).
    optional = {"secret_id"} if str(args.get("jdbc_url") or "").startswith("jdbc:sqlite:") else set()
    missing = [name for name in REQUIRED_ARGS if not args.get(name) and name not in optional]
    if missing:
        raise ValueError("missing job argument(s): " + ", ".join(f"--{m}" for m in missing))
    run_date_text = args.get("run_date")
    try:
        run_date = date.fromisoformat(run_date_text) if run_date_text else datetime.now(UTC).date()
    except ValueError:
        raise ValueError(f"--run_date must be YYYY-MM-DD, got {run_date_text!r}") from None
    run_id = args.get("run_id") or args.get("JOB_RUN_ID") or generate_run_id()
    return Settings(
        spec_uri=str(args["spec_uri"]),
        secret_id=str(args.get("secret_id") or ""),
        jdbc_url=str(args["jdbc_url"]),
        raw_uri=str(args["raw_uri"]),
        curated_uri=str(args["curated_uri"]),
        quarantine_uri=str(args["quarantine_uri"]),
        state_uri=str(args["state_uri"]),
        run_date=run_date,
        run_id=run_id,
        tls_ca_bundle=str(args.get("tls_ca_bundle") or ""),
    )


def configure_spark(spark: SparkSession) -> None:
    # Invalid dates (e.g. 1990-02-31) must parse to null, not raise SparkUpgradeException.
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")


def run(spark: SparkSession, settings: Settings) -> dict[str, Any]:
    """One extraction run. Returns the manifest (also written to storage)."""
    configure_spark(spark)
    started_at = utc_now_iso()
    run_date = settings.run_date.isoformat()
    spec = load_spec(settings.spec_uri)
    store = WatermarkStore(settings.state_uri)
    previous = store.load(spec.name, spec.watermark_column)
    watermark_from = previous.watermark if previous else None
    log.info(
        "run %s of spec %s (dt=%s) from watermark %s",
        settings.run_id,
        spec.name,
        run_date,
        watermark_from.value if watermark_from else "<none: full extraction>",
    )

    creds = get_db_credentials(settings.secret_id) if settings.secret_id else DbCredentials("", "")
    source = JdbcSource(
        url=settings.jdbc_url, user=creds.username, password=creds.password, ca_bundle=settings.tls_ca_bundle or None
    )
    source_df = read_source(spark, source, spec, watermark_from)
    source_partitions = source_df.rdd.getNumPartitions()
    # Fail on spec/source mismatches (unknown columns, bad expressions) before writing anything:
    # Spark analyses plans eagerly, no rows are read here.
    split_valid(apply_rules(source_df, spec), spec)

    part = f"dt={run_date}/run_id={settings.run_id}"
    raw_path = join_uri(settings.raw_uri, part)
    curated_path = join_uri(settings.curated_uri, part)
    quarantine_path = join_uri(settings.quarantine_uri, part)
    dated_manifest = manifest_uri(settings.curated_uri, run_date, settings.run_id)
    latest_uri = latest_manifest_uri(settings.curated_uri)
    previous_latest = read_text(latest_uri)

    cleaned = None
    try:
        source_df.write.mode("overwrite").parquet(spark_path(raw_path))
        raw = spark.read.schema(source_df.schema).parquet(spark_path(raw_path))
        rows_read = raw.count()
        watermark_to = max_watermark(raw, spec.watermark_column) or watermark_from

        # Hash-partition by key once: the duplicate-key window reuses it (no 200-way shuffle) and the
        # outputs get a few reasonably sized files instead of one per shuffle partition.
        slices = max(1, min(source_partitions, -(-rows_read // ROWS_PER_OUTPUT_FILE)))
        cleaned = apply_rules(raw.repartition(slices, spec.primary_key), spec).persist()
        rows_valid, by_reason = reason_counts(cleaned)
        valid, quarantined = split_valid(cleaned, spec)
        valid.write.mode("overwrite").parquet(spark_path(curated_path))
        rows_quarantined = sum(by_reason.values())
        if rows_quarantined:
            quarantined.withColumn(QUARANTINE_RUN_ID, sf.lit(settings.run_id)).coalesce(1).write.mode(
                "overwrite"
            ).parquet(spark_path(quarantine_path))
        if rows_read != rows_valid + rows_quarantined:
            raise ExtractionError(
                f"counts do not reconcile: read {rows_read} != written {rows_valid} + quarantined {rows_quarantined}"
            )

        manifest = build_manifest(
            spec=spec,
            run_id=settings.run_id,
            run_date=run_date,
            started_at=started_at,
            finished_at=utc_now_iso(),
            watermark_from=watermark_from,
            watermark_to=watermark_to,
            rows_read=rows_read,
            rows_written=rows_valid,
            quarantined_by_reason=by_reason,
            outputs={
                "raw": raw_path,
                "curated": curated_path,
                "quarantine": quarantine_path if rows_quarantined else None,
                "manifest": dated_manifest,
            },
            source_partitions=source_partitions,
        )
        write_manifest(settings.curated_uri, manifest)
        store.save(
            State(
                spec_name=spec.name,
                watermark=watermark_to,
                run_id=settings.run_id,
                run_date=run_date,
                committed_at=utc_now_iso(),
                manifest_uri=dated_manifest,
            )
        )
    except BaseException:
        log.exception("run %s failed; removing its outputs, watermark not advanced", settings.run_id)
        _rollback(settings, [raw_path, curated_path, quarantine_path], dated_manifest, latest_uri, previous_latest)
        raise
    finally:
        if cleaned is not None:
            cleaned.unpersist()

    log.info(
        "run %s committed: read=%d written=%d quarantined=%d %s watermark=%s",
        settings.run_id,
        rows_read,
        rows_valid,
        rows_quarantined,
        by_reason,
        watermark_to.value if watermark_to else None,
    )
    return manifest


def _rollback(
    settings: Settings,
    folders: Sequence[str],
    dated_manifest: str,
    latest_uri: str,
    previous_latest: str | None,
) -> None:
    """Best effort: a failure here is logged, never masks the original error."""
    try:
        for folder in folders:
            delete_tree(folder)
        delete_object(dated_manifest)
        if previous_latest is not None:
            write_text(latest_uri, previous_latest)
        else:
            delete_object(latest_uri)
    except Exception:
        log.exception("rollback of run %s incomplete", settings.run_id)


# --------------------------------------------------------------------------------------- entry


def _parse_local_args(argv: Sequence[str]) -> dict[str, str | None]:
    parser = argparse.ArgumentParser(prog="extract_job", description="Esteira extraction job (local mode)")
    for name in REQUIRED_ARGS:
        parser.add_argument(f"--{name}", required=name != "secret_id")
    for name in OPTIONAL_ARGS:
        parser.add_argument(f"--{name}")
    parser.add_argument("--jars", help="comma-separated JDBC driver jars (local mode only)")
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        log.warning("ignoring unknown arguments: %s", " ".join(a for a in unknown if a.startswith("--")))
    return vars(args)


def _local_spark(jars: str | None) -> SparkSession:
    if not jars:
        jars = ",".join(j for j in DEFAULT_LOCAL_JARS if Path(j).exists())
    builder = (
        SparkSession.builder.appName("esteira-extract")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
    )
    if jars:
        builder = builder.config("spark.jars", jars)
    return builder.getOrCreate()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Glue entry point (``awsglue`` importable) with a local argparse/SparkSession fallback.

    ``argv`` is ``sys.argv``-shaped: the first item is the program name.
    """
    argv = list(sys.argv if argv is None else argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        from awsglue.context import GlueContext
        from awsglue.utils import getResolvedOptions
    except ImportError:
        args = _parse_local_args(argv[1:])
        spark = _local_spark(args.pop("jars", None))
    else:
        from pyspark.context import SparkContext

        wanted = [*REQUIRED_ARGS, *(o for o in (*OPTIONAL_ARGS, "JOB_RUN_ID") if f"--{o}" in argv)]
        args = dict(getResolvedOptions(argv, wanted))
        spark = GlueContext(SparkContext.getOrCreate()).spark_session
    settings = settings_from_args(args)
    log.info("settings: %s", settings)
    return run(spark, settings)
