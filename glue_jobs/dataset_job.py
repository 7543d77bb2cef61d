"""AWS Glue script for the Esteira dataset job.

The logic lives in the ``esteira_dataset`` package, shipped with ``--extra-py-files`` together with
``esteira_extract`` (storage and spec helpers) and ``esteira_contracts`` (the job's arguments).
"""

from esteira_dataset.job import main

if __name__ == "__main__":
    main()
