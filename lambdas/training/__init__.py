"""Training pipeline Lambdas, called by the training state machine.

``training.prepare.handler.handler``
    ``{"run_id": "<extraction run id>" | "latest", "curated_uri"?: "s3://..."}`` (or the raw Glue event) ->
    ``{training_job_name, tuning_job_name, train_uri, manifest_uri, output_uri, checkpoint_uri, rows, target,
    run_id}``. Errors: InvalidRequest, ManifestNotFound, InvalidManifest, NoTrainingData, SettingsError.

``training.evaluate.handler.handler``
    ``{training_job_name, model_artifacts, training_image, train_uri, manifest_uri, lineage?: {key: str}}`` ->
    ``{passed, reason, metrics, metric_name, metric_value, champion, evaluation_uri, evaluation_source,
    image_digest, customer_metadata}``. Errors: InvalidRequest, EvaluationNotFound, InvalidEvaluation,
    SettingsError. A failing gate is ``passed: false``, not an error.

``training.retrain.handler.handler``
    An EventBridge event (a monitoring execution completed with violations, or the model-quality alarm in ALARM)
    -> ``{decision: triggered|debounced|coalesced, trigger, reason, execution_arn?, last_started_at?}``; starts the
    state machine with ``{run_id: "latest", source: "retraining", reason, trigger}`` at most once per window.
    Errors: InvalidTriggerEventError, SettingsError. Settings: :mod:`esteira_contracts.retraining`.

Environment variables and results: :mod:`esteira_contracts.training`. Error classes: :mod:`training.errors`.
"""
