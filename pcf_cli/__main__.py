"""``python -m pcf_cli``."""

from pcf_cli.main import main

raise SystemExit(main())
