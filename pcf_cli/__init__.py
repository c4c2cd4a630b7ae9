"""The ``pcf`` command line: apply, run, stop, terminate, validate, plan and schema, on the local cloud or on AWS.

Entry point: ``pcf_cli.main:main``; ``python -m pcf_cli`` works too. This package is installed with the project and
never bundled into the Lambda package; the original PCF's ``pcf.cli`` module paths are thin shims over it.
"""
