"""The control plane: what the Lambda functions do, beside the ``pcf`` library."""
