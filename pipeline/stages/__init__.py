"""The local run's stages, one module each, in the order `pipeline.runner.STAGES` runs them.

Each module has ``run(ctx)``: it reads what earlier stages left on the :class:`~pipeline.context.RunContext`,
adds its own results and its part of the report, and raises ``StageFailedError`` with the reason when the run
must stop.
"""
