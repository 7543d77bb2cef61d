"""The local run's command line: which environment's config, where the output goes, the demo source's size."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from stacks.config import CONFIG_DIR, DEFAULT_ENV, ConfigError, EnvironmentConfig, load_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO / "glue_jobs" / "specs" / "employees.json"


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

    def load_config(self) -> EnvironmentConfig:
        """`config/<env>.yaml` through the stacks' typed config: the same checks and messages as `make synth`."""
        return load_config(self.config.stem, self.config.parent)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Run Esteira end to end on this machine: demo source -> extraction -> train -> evaluate -> "
        "register -> serve + smoke test -> batch transform -> fan-out -> consumer. No AWS account needed.",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="demo employees in the source (default 100000)")
    parser.add_argument("--out", type=Path, default=Path(".out/pipeline"), help="output and state folder")
    parser.add_argument(
        "--change-rows",
        type=int,
        default=0,
        metavar="N",
        help="before extracting, change N existing source rows (data and atualizado_em): the extraction picks up "
        "only those when a previous run exists",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the source, lake, registry and runs first")
    parser.add_argument("--seed", type=int, default=42, help="demo data seed (default 42)")
    parser.add_argument(
        "--source-url",
        default=os.environ.get("SOURCE_URL") or None,
        help="postgresql://user:password@host:port/db instead of the embedded SQLite source (env SOURCE_URL); "
        "the demo tables are created and loaded there if missing",
    )
    parser.add_argument(
        "--env", default=DEFAULT_ENV, help=f"environment whose config/<env>.yaml the run uses (default {DEFAULT_ENV})"
    )
    parser.add_argument("--config", type=Path, default=None, help="an environment config file instead of --env's")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="extraction spec")
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
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    if args.change_rows < 0:
        parser.error("--change-rows must be >= 0")
    options = Options(
        rows=args.rows,
        out=args.out,
        change_rows=args.change_rows,
        fresh=args.fresh,
        seed=args.seed,
        source_url=args.source_url,
        config=args.config or CONFIG_DIR / f"{args.env}.yaml",
        spec=args.spec,
        gate_threshold=args.gate_threshold,
        min_match_rate=args.min_match_rate,
    )
    try:
        options.load_config()
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")
    return options
