"""The local Glue runner: one Spark driver runs the jobs' own main(); a bad job fails alone, clearly, and the runner
ends with its input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.glue_runner import GlueRunner
from pipeline.options import REPO
from pipeline.processes import ChildFailedError


def test_a_job_with_bad_arguments_fails_naming_the_key_and_the_runner_ends_with_its_input(tmp_path: Path) -> None:
    # GIVEN a running local Glue runner
    log = (tmp_path / "glue-runner.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.glue_runner"],
        cwd=REPO,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    runner = GlueRunner(process, tmp_path / "glue-runner.log", tmp_path)
    waits: list[float] = []
    try:
        # WHEN the dataset job is given arguments without its spec
        with pytest.raises(ChildFailedError) as failure:
            runner.run("dataset", ["--run_id", "r1"], dict(os.environ), tmp_path / "dataset.log", waits.append)
        # THEN the stage's error names the job and the missing key, and the job's log says it too
        assert "dataset failed" in str(failure.value)
        assert "spec_uri" in str(failure.value)
        assert "spec_uri" in (tmp_path / "dataset.log").read_text()
        # WHEN its input ends THEN the runner stops Spark and exits cleanly
        runner.finish()
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
