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
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as sf

from esteira_contracts import SettingsError
from esteira_contracts.extraction import ExtractionJobArgs
from esteira_extract.jdbc import JdbcSource, read_source
from esteira_extract.manifest import build_manifest, latest_manifest_uri, manifest_uri, write_manifest
from esteira_extract.quarantine import QUARANTINE_RUN_ID, reason_counts, split_valid
from esteira_extract.secrets import DbCredentials, get_db_credentials
from esteira_extract.spec import load_spec
from esteira_extract.storage import delete_object, delete_tree, join_uri, read_text, spark_path, write_text
from esteira_extract.transforms import apply_rules
from esteira_extract.watermark import State, WatermarkStore, count_and_max_watermark, utc_now_iso

log = logging.getLogger("esteira_extract")

ROWS_PER_OUTPUT_FILE = 500_000
# A curated run is written as at least one file per core while each keeps this many rows: the dataset job reads a
# Parquet file of one row group in one task, and 100k rows in one file kept one of two cores idle for ~1.5 s.
MIN_ROWS_PER_OUTPUT_FILE = 25_000
DEFAULT_LOCAL_JARS = ("/usr/share/java/postgresql.jar", "/usr/share/java/sqlite-jdbc.jar")


def output_files(rows: int, source_partitions: int, cores: int) -> int:
    """Curated files for a run: none over ROWS_PER_OUTPUT_FILE rows (up to one per source partition), and one per
    core as long as each keeps MIN_ROWS_PER_OUTPUT_FILE rows, so the next job's scan uses every core."""
    by_size = min(source_partitions, -(-rows // ROWS_PER_OUTPUT_FILE))
    by_cores = min(cores, rows // MIN_ROWS_PER_OUTPUT_FILE)
    return max(1, by_size, by_cores)


class ExtractionError(RuntimeError):
    pass


def configure_spark(spark: SparkSession) -> None:
    # Invalid dates (e.g. 1990-02-31) must parse to null, not raise SparkUpgradeException.
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")


def run(spark: SparkSession, args: ExtractionJobArgs) -> dict[str, Any]:
    """One extraction run. Returns the manifest (also written to storage)."""
    configure_spark(spark)
    started_at = utc_now_iso()
    settings = args.resolved()
    run_id = settings.effective_run_id
    run_date = settings.run_day.isoformat()
    spec = load_spec(settings.spec_uri)
    store = WatermarkStore(settings.state_uri)
    previous = store.load(spec.name, spec.watermark_column)
    watermark_from = previous.watermark if previous else None
    log.info(
        "run %s of spec %s (dt=%s) from watermark %s",
        run_id,
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

    part = f"dt={run_date}/run_id={run_id}"
    raw_path = join_uri(settings.raw_uri, part)
    curated_path = join_uri(settings.curated_uri, part)
    quarantine_path = join_uri(settings.quarantine_uri, part)
    dated_manifest = manifest_uri(settings.curated_uri, run_date, run_id)
    latest_uri = latest_manifest_uri(settings.curated_uri)
    previous_latest = read_text(latest_uri)

    cleaned = None
    try:
        source_df.write.mode("overwrite").parquet(spark_path(raw_path))
        raw = spark.read.schema(source_df.schema).parquet(spark_path(raw_path))
        rows_read, highest = count_and_max_watermark(raw, spec.watermark_column)
        watermark_to = highest or watermark_from

        # Hash-partition by key once: the duplicate-key window reuses it (no 200-way shuffle). The rules run in at
        # least one task per core (one task for 100k rows took 6 s of one core while the other idled); the
        # curated output is then coalesced from the cached partitions to a few reasonably sized files instead of
        # one per task.
        files = output_files(rows_read, source_partitions, spark.sparkContext.defaultParallelism)
        tasks = max(files, source_partitions, spark.sparkContext.defaultParallelism)
        cleaned = apply_rules(raw.repartition(tasks, spec.primary_key), spec).persist()
        rows_valid, by_reason = reason_counts(cleaned)
        valid, quarantined = split_valid(cleaned, spec)
        valid.coalesce(files).write.mode("overwrite").parquet(spark_path(curated_path))
        rows_quarantined = sum(by_reason.values())
        if rows_quarantined:
            quarantined.withColumn(QUARANTINE_RUN_ID, sf.lit(run_id)).coalesce(1).write.mode("overwrite").parquet(
                spark_path(quarantine_path)
            )
        if rows_read != rows_valid + rows_quarantined:
            raise ExtractionError(
                f"counts do not reconcile: read {rows_read} != written {rows_valid} + quarantined {rows_quarantined}"
            )

        manifest = build_manifest(
            spec=spec,
            run_id=run_id,
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
                run_id=run_id,
                run_date=run_date,
                committed_at=utc_now_iso(),
                manifest_uri=dated_manifest,
            )
        )
    except BaseException:
        log.exception("run %s failed; removing its outputs, watermark not advanced", run_id)
        _rollback(run_id, [raw_path, curated_path, quarantine_path], dated_manifest, latest_uri, previous_latest)
        raise
    finally:
        if cleaned is not None:
            cleaned.unpersist()

    log.info(
        "run %s committed: read=%d written=%d quarantined=%d %s watermark=%s",
        run_id,
        rows_read,
        rows_valid,
        rows_quarantined,
        by_reason,
        watermark_to.value if watermark_to else None,
    )
    return manifest


def _rollback(
    run_id: str,
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
        log.exception("rollback of run %s incomplete", run_id)


# --------------------------------------------------------------------------------------- entry


def _local_options(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``--jars`` (local mode only) and the job's own arguments; unknown names are logged, then ignored."""
    parser = argparse.ArgumentParser(prog="extract_job", add_help=False, allow_abbrev=False)
    parser.add_argument("--jars", help="comma-separated JDBC driver jars (local mode only)")
    options, rest = parser.parse_known_args(list(argv))
    known = set(ExtractionJobArgs.names())
    unknown = [item for item in rest if item.startswith("--") and item[2:].partition("=")[0] not in known]
    if unknown:
        log.warning("ignoring unknown arguments: %s", " ".join(unknown))
    jars: str | None = options.jars
    return jars, rest


def _parsed(args: Mapping[str, str | None] | Sequence[str]) -> ExtractionJobArgs:
    """The job's arguments; bad ones end the run with one message naming each (not a traceback)."""
    try:
        return ExtractionJobArgs.from_args(args)
    except SettingsError as error:
        log.error("%s", error)
        raise SystemExit(f"extract_job: {error}") from None


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
    """Glue entry point (``awsglue`` importable) with a local SparkSession fallback.

    ``argv`` is ``sys.argv``-shaped: the first item is the program name. Either way the arguments are parsed by
    :class:`ExtractionJobArgs`, the contract the stack renders them with.
    """
    argv = list(sys.argv if argv is None else argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        from awsglue.context import GlueContext
        from awsglue.utils import getResolvedOptions
    except ImportError:
        jars, rest = _local_options(argv[1:])
        args = _parsed(rest)
        spark = _local_spark(jars)
    else:
        from pyspark.context import SparkContext

        # getResolvedOptions fails on an asked-for option that is absent: ask for the optional ones only when given.
        required = set(ExtractionJobArgs.required_names())
        wanted = [name for name in ExtractionJobArgs.names() if name in required or f"--{name}" in argv]
        args = _parsed(dict(getResolvedOptions(argv, wanted)))
        spark = GlueContext(SparkContext.getOrCreate()).spark_session
    log.info("arguments: %s", args)
    return run(spark, args)
