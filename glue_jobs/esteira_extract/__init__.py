"""Esteira extraction job package (shipped to Glue as --extra-py-files).

Modules: ``spec`` (JSON spec + validation), ``transforms`` (pure DataFrame cleaning),
``quarantine`` (valid/rejected split), ``jdbc`` (parallel incremental reads), ``secrets``
(Secrets Manager credentials), ``watermark`` (state store), ``manifest``, ``storage`` (s3/local
URIs), ``demo_data`` (deterministic demo source) and ``job`` (``run`` and the ``main`` entry).
Only the standard library, pyspark and boto3 are imported.
"""
