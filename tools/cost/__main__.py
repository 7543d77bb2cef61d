"""`python -m tools.cost`."""

import sys

from tools.cost.report import main

sys.exit(main())
