"""Esteira dataset job package (shipped to Glue as --extra-py-files, with esteira_extract and esteira_contracts).

Modules: ``spec`` (the spec's ``dataset`` section, validated before Spark starts), ``inputs`` (the committed curated
runs), ``transforms`` (pure DataFrame steps: latest version per key, tombstones, label state, split), ``outputs``
(layout, writers, counts read back from the files) and ``job`` (``run`` and the ``main`` entry). Only the standard
library, pyspark and boto3 are imported.
"""
