"""The original PCF's ``pcf.cli`` module paths (``pcf.cli.cli``, ``pcf.cli.commands.*``, ``pcf.cli.utils``): thin
shims over the ``pcf`` command line, which lives in the ``pcf_cli`` package outside the Lambda package."""
