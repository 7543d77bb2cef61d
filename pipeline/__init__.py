"""The whole Esteira pipeline on one machine, no AWS account: ``python -m pipeline`` (``make pipeline``).

It runs the code that runs in AWS, in order, against local stand-ins, and prints a summary table; the same
numbers go to ``<out>/pipeline-report.json`` (and ``<out>/runs/<run id>/``). Exit status 0 only if every stage
succeeded; 130 on Ctrl-C.

=========  ===================================================================  ====================================
stage      what runs                                                            stand-in for
=========  ===================================================================  ====================================
aws        ``python -m pipeline.moto_server``: moto in server mode on a           S3, SQS, DynamoDB, SageMaker model
           loopback port, its own process                                       registry, Secrets Manager
source     ``esteira_extract.demo_data`` into ``<out>/source/hr.db`` (SQLite),   the source database
           or the PostgreSQL at ``SOURCE_URL`` (its credentials go to the
           local Secrets Manager, never into job arguments)
extract    ``esteira_extract.job.main()`` (what ``glue_jobs/extract_job.py``     the Glue job
           calls) on the local Glue runner (:mod:`pipeline.glue_runner`: one
           Spark driver, started with the run), JDBC to the source
dataset    the curated Parquet, latest version per key, minus a held-out slice  (local only, see below)
train      ``training.prepare`` Lambda, then ``containers/model/bin/train`` in   the training job
           a SageMaker directory layout; model.tar.gz / output.tar.gz to S3
evaluate   ``training.evaluate`` Lambda handler: gate vs threshold + champion   the Evaluate step
bias       Clarify's bias metrics (``pipeline.bias``) and XGBoost's SHAP       the Clarify processing jobs and the
           values (``pipeline.explain``) on the holdout, written as Clarify's  bias gate Lambda
           analysis.json; the gate Lambda's ``check_bias`` on them
register   ``CreateModelPackage`` (Approved) + ``registry/<spec>.json``         the Register step
serve      ``containers/model/bin/serve`` on a loopback port; smoke test:        the endpoint and the CD smoke test
           served = the package's own predictions, gate metric on holdout
transform  ``batch.launcher``'s ``launch()`` on moto (the run it chooses from     the launcher Lambda and the batch
           the package's lineage, checked), then that job's batch input        transform job
           through /invocations with MultiRecord + its filters (``serving``)
fanout     ``batch.fanout`` Lambda handler, looped until done                   the Step Functions loop
consume    ``batch.consumer`` Lambda handler on received SQS batches            the SQS event source mapping
=========  ===================================================================  ====================================

The serve stage's smoke test (:func:`pipeline.smoke_check.smoke_test`) is also the CD pipeline's, against a real
endpoint: ``python -m pipeline.smoke`` (:mod:`pipeline.smoke`) reads the held-out rows of the dataset run the
package names (``lineage.dataset``) and sends them to ``InvokeEndpoint``; no data rows travel in ``model.tar.gz``.

What is emulated rather than run: the Step Functions loops and the SQS event source mapping (small loops in
:mod:`pipeline.delivery`), SageMaker's batch transform data path (:mod:`pipeline.serving`), the training job's
channel download (the channel is written locally), the Register state (one ``CreateModelPackage`` call) and
Clarify's processing jobs (no Clarify container here: the bias stage computes its metrics with its documented
definitions, and SHAP with XGBoost's exact TreeSHAP where Clarify runs Kernel SHAP; the gate is the Lambda's own).

State between runs (so a second run is incremental): everything lives in ``--out`` (default ``.out/pipeline``)::

    source/hr.db                     the demo SQLite source (a user's source is only read, never copied here)
    lake/{raw,curated,quarantine}/<spec name>/   the extraction's outputs per spec (the job writes local paths)
    lake/monitoring/clarify/run_id=<run>/{bias,explainability}/analysis.json   Clarify's documents (bias stage)
    lake/state/<spec name>.json      the spec's watermark: two specs never share state
    registry/<spec name>.json        the spec's registered model packages (replayed into moto's registry at start)
    models/<training job>/model/     approved models (what serve loads)
    runs/<run id>/                   logs, the SageMaker layout, tarballs, this run's report
    pipeline-report.json             the last run's report

moto keeps its state in memory, so each run starts with empty buckets, queue and tables: the curated prefix is
uploaded to the local S3 before training (Prepare reads its manifests there), the registry is replayed, and the
predictions table holds this run's predictions only.

The training data set: AWS trains on the whole curated prefix; locally each key's latest version is kept (changed
rows appear once per run that read them) and a slice chosen by a hash of the key (stable across runs) is held out
for the smoke test and the batch predictions, so ``dataset rows = trained on + held out``.

Gate semantics: a candidate the gate rejects is not registered; if an approved model exists, it keeps serving and
the run goes on with it (the training execution would fail in AWS, serving would not change); with no approved
model the run fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The runtime packages' import roots (as in pyproject's pytest pythonpath), so `python -m pipeline` needs no
# PYTHONPATH: esteira_extract (glue_jobs), esteira_model (containers/model/src), training/batch/common (lambdas).
REPO_ROOT = Path(__file__).resolve().parents[1]
IMPORT_ROOTS = (REPO_ROOT / "glue_jobs", REPO_ROOT / "containers" / "model" / "src", REPO_ROOT / "lambdas")
for _root in IMPORT_ROOTS:
    if str(_root) not in sys.path:
        sys.path.append(str(_root))
