"""The local run's command line: which environment's config and spec, where the output goes, which source to read."""

from __future__ import annotations

import argparse
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipeline.demo_clock import DEFAULT_ADVANCE_DAYS, MAX_ADVANCE_DAYS
from pipeline.report import STAGES
from stacks.config import CONFIG_DIR, DEFAULT_ENV, ConfigError, EnvironmentConfig, load_config

REPO = Path(__file__).resolve().parents[1]
DEMO_SPEC = REPO / "glue_jobs" / "specs" / "employees.json"
DEMO_SQLITE = Path("source") / "hr.db"  # inside --out


@dataclass(frozen=True)
class Options:
    rows: int
    out: Path
    change_rows: int
    fresh: bool
    seed: int
    source_url: str | None
    config: Path
    spec: Path
    gate_threshold: float | None
    min_match_rate: float
    source_sqlite: Path | None = None
    source_ca_bundle: Path | None = None
    load_demo: bool = False
    stop_after: str | None = None
    advance_days: int = 0
    glue_runner: Path | None = None

    def load_config(self) -> EnvironmentConfig:
        """`config/<env>.yaml` through the stacks' typed config: the same checks and messages as `make synth`."""
        return load_config(self.config.stem, self.config.parent)

    @property
    def demo_source(self) -> bool:
        """The run creates or changes the demo tables: only the embedded SQLite file, or a database named for
        that with --load-demo. Every other source is only read."""
        return self.load_demo or (self.source_url is None and self.source_sqlite is None)

    def sqlite_path(self, out: Path) -> Path | None:
        """The SQLite file the run reads (the user's, or the embedded demo file), None for PostgreSQL."""
        if self.source_url:
            return None
        return self.source_sqlite if self.source_sqlite is not None else out / DEMO_SQLITE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Run Esteira end to end on this machine: source -> extraction -> train -> evaluate -> "
        "register -> serve + smoke test -> batch transform -> fan-out -> consumer. No AWS account needed. "
        "A source given by --source-url or --source-sqlite is only read; the demo tables are generated only into "
        "the embedded SQLite file, or with --load-demo.",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="demo employees in the source (default 100000)")
    parser.add_argument("--out", type=Path, default=Path(".out/pipeline"), help="output and state folder")
    parser.add_argument(
        "--change-rows",
        type=int,
        default=0,
        metavar="N",
        help="demo source only: before extracting, change N existing demo rows (data and atualizado_em) and move "
        f"the demo's clock on ({DEFAULT_ADVANCE_DAYS} days unless --advance-days says otherwise); the extraction "
        "picks up only the rows changed when a previous run exists",
    )
    parser.add_argument(
        "--advance-days",
        type=int,
        default=None,
        metavar="D",
        help=f"demo source only: move the demo's today on by D days (0 to {MAX_ADVANCE_DAYS}; default "
        f"{DEFAULT_ADVANCE_DAYS} with --change-rows, else 0): employees whose exit day has come leave, others pass "
        "their 12 months, so labels of employees scored earlier become final",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the demo source, lake, registry and runs first")
    parser.add_argument("--seed", type=int, default=42, help="demo data seed (default 42)")
    parser.add_argument(
        "--source-url",
        default=os.environ.get("SOURCE_URL") or None,
        help="postgresql://user:password@host:port/db to read instead of the embedded demo SQLite source (env "
        "SOURCE_URL); read only: a SELECT-only role is enough",
    )
    parser.add_argument(
        "--source-sqlite", type=Path, default=None, help="an existing SQLite file to read (read only) instead"
    )
    parser.add_argument(
        "--source-ca-bundle",
        type=Path,
        default=os.environ.get("SOURCE_CA_BUNDLE") or None,
        help="PEM CA bundle the PostgreSQL server's certificate must chain to (env SOURCE_CA_BUNDLE): the run and "
        "the extraction then connect with TLS, verify-full; without it only a loopback server is read in plain text",
    )
    parser.add_argument(
        "--load-demo",
        action="store_true",
        help="create and load the demo tables into the --source-url database if they are missing (a database you "
        "name for the demo: never your data's); allows --change-rows there",
    )
    parser.add_argument(
        "--env", default=DEFAULT_ENV, help=f"environment whose config/<env>.yaml the run uses (default {DEFAULT_ENV})"
    )
    parser.add_argument("--config", type=Path, default=None, help="an environment config file instead of --env's")
    parser.add_argument(
        "--spec", type=Path, default=None, help="extraction spec (default: the config's extraction.spec)"
    )
    parser.add_argument(
        "--gate-threshold",
        type=float,
        default=None,
        help="override the config's training.gate.threshold for this run",
    )
    parser.add_argument(
        "--min-match-rate",
        type=float,
        default=0.8,
        help="smoke test, classification only: least share of held-out rows whose served label is the true one "
        "(default 0.8); the gate's metric and threshold apply to every task",
    )
    parser.add_argument(
        "--stop-after",
        choices=STAGES[1:],
        default=None,
        help="end the run (status 'stopped', exit 0) after this stage; the later stages are skipped",
    )
    parser.add_argument(
        "--glue-runner",
        type=Path,
        default=None,
        metavar="SOCKET",
        help="send the extract and dataset jobs to the local Glue runner listening on SOCKET (`make glue-runner`), "
        "whose Spark is already warm, instead of starting Spark for this run; a run stopped by Ctrl-C leaves the job "
        "it sent to finish there",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> Options:
    from pipeline.preflight import PreflightError, check_spec

    parser = _parser()
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    if args.change_rows < 0:
        parser.error("--change-rows must be >= 0")
    if args.advance_days is not None and not 0 <= args.advance_days <= MAX_ADVANCE_DAYS:
        parser.error(f"--advance-days must be between 0 and {MAX_ADVANCE_DAYS}")
    if args.source_url and args.source_sqlite:
        parser.error("give --source-url or --source-sqlite, not both")
    if args.source_sqlite and not args.source_sqlite.is_file():
        parser.error(f"--source-sqlite {args.source_sqlite}: no such file (the run never creates a user's source)")
    if args.load_demo and not args.source_url:
        parser.error("--load-demo needs --source-url: the database to load the demo tables into")
    demo = args.load_demo or (not args.source_url and not args.source_sqlite)
    if args.change_rows and not demo:
        parser.error(
            "--change-rows changes demo rows: it applies only to the demo source (the embedded SQLite file, or "
            "--load-demo); a source you name is only read"
        )
    if args.advance_days and not demo:
        parser.error(
            "--advance-days moves the demo's clock: it applies only to the demo source (the embedded SQLite file, or "
            "--load-demo); a source you name is only read"
        )
    if args.advance_days is None:
        args.advance_days = DEFAULT_ADVANCE_DAYS if args.change_rows and demo else 0
    if args.glue_runner is not None and not _is_socket(args.glue_runner):
        parser.error(f"--glue-runner {args.glue_runner}: no local Glue runner listens there (`make glue-runner`)")
    if args.source_ca_bundle and not args.source_ca_bundle.is_file():
        parser.error(f"--source-ca-bundle {args.source_ca_bundle}: no such file")
    config_path = args.config or CONFIG_DIR / f"{args.env}.yaml"
    try:
        config = load_config(config_path.stem, config_path.parent)
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")
    spec = args.spec or config.extraction.spec_path
    if demo and spec.resolve() != DEMO_SPEC.resolve():
        parser.error(
            f"the demo source holds the demo spec's tables only; spec {spec} needs its own source: "
            "--source-url or --source-sqlite"
        )
    try:
        check_spec(spec, config)
    except PreflightError as error:
        parser.exit(2, f"error: {error}\n")
    return Options(
        rows=args.rows,
        out=args.out,
        change_rows=args.change_rows,
        fresh=args.fresh,
        seed=args.seed,
        source_url=args.source_url,
        config=config_path,
        spec=spec,
        gate_threshold=args.gate_threshold,
        min_match_rate=args.min_match_rate,
        source_sqlite=args.source_sqlite.resolve() if args.source_sqlite else None,
        source_ca_bundle=args.source_ca_bundle.resolve() if args.source_ca_bundle else None,
        load_demo=args.load_demo,
        stop_after=args.stop_after,
        advance_days=args.advance_days,
        glue_runner=args.glue_runner,
    )


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False
