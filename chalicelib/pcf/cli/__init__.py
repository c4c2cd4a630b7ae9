"""The ``pcf`` command line: apply, run, stop, terminate, validate, plan and schema, on the local
cloud or on AWS. Entry point: ``pcf.cli.main:main``; ``python -m pcf.cli`` works too."""
