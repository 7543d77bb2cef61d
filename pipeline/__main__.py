"""``python -m pipeline``: see :mod:`pipeline`."""

from pipeline.cli import main

if __name__ == "__main__":  # multiprocessing's spawned children import this module too (demo_data.load_sqlite)
    raise SystemExit(main())
