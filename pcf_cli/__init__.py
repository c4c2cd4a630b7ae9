"""The ``pcf`` command line (click and rich), installed with the project and never bundled into the Lambda package:
``docs/cli.md``. Entry point ``pcf_cli.main:main`` (or ``python -m pcf_cli``); ``pcf.cli`` holds thin shims over it."""
