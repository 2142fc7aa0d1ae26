"""``python -m newswatch.scheduler``: the same as the ``newswatch`` command."""

import sys

from newswatch.scheduler.cli import main

sys.exit(main())
