"""``python -m hedgeopt``."""

import sys

from hedgeopt.cli import main

sys.exit(main())
