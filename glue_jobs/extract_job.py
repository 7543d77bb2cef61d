"""AWS Glue script for the Esteira extraction job.

The logic lives in the ``esteira_extract`` package, shipped with ``--extra-py-files``.
"""

from esteira_extract.job import main

if __name__ == "__main__":
    main()
