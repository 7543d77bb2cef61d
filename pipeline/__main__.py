"""``python -m pipeline``: see :mod:`pipeline`."""

import gc

if __name__ == "__main__":
    # Imported here, not at the top: multiprocessing's spawned children (demo_data.load_sqlite's chunk generators)
    # import this module again, as __mp_main__, and would each pay the ~1 s import of the whole pipeline first.
    from pipeline.cli import main

    code = main()
    # The run has written and flushed everything it reports. Interpreter shutdown would otherwise run full garbage
    # collections over the whole heap (pandas, XGBoost, matplotlib, boto3): 0.45 s of a 3,000-row run's exit, 0.04 s
    # with the heap frozen. atexit handlers still run.
    gc.freeze()
    raise SystemExit(code)
