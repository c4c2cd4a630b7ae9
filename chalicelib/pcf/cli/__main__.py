"""``python -m pcf.cli``."""

from pcf.cli.main import main

raise SystemExit(main())
