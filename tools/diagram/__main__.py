"""`python -m tools.diagram`."""

import sys

from tools.diagram import main

sys.exit(main())
