"""The ``pcf`` command line (click and rich): definitions applied, planned and validated, the control plane's state,
drift and healing, and the shared local cloud, on the local cloud or on AWS.

Entry point: ``pcf_cli.main:main``; ``python -m pcf_cli`` works too. This package is installed with the project and
never bundled into the Lambda package; the original PCF's ``pcf.cli`` module paths are thin shims over it.
"""
