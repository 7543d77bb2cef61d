"""``python -m pipeline``: see :mod:`pipeline`."""

from pipeline.cli import main

raise SystemExit(main())
