"""``python -m benchmarks``: run every benchmark case and print the table."""

import sys

from benchmarks.cli import main

sys.exit(main())
