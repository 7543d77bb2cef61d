"""Esteira extraction job package (shipped to Glue as --extra-py-files).

Modules: ``spec`` (JSON spec + validation; ``spec_source`` the source SELECT, ``rules`` the rule
types, ``spec_checker`` the error-collecting JSON walker), ``transforms`` (pure DataFrame
cleaning), ``quarantine`` (valid/rejected split), ``jdbc`` (parallel incremental reads),
``secrets`` (Secrets Manager credentials), ``watermark`` (state store), ``manifest``, ``storage``
(s3/local URIs), ``demo_data`` (deterministic demo source; ``demo_schema`` its tables) and ``job``
(``run`` and the ``main`` entry). Only the standard library, pyspark, boto3 and ``esteira_contracts`` (the
job's argument contract, shipped in the same zip) are imported.
"""
