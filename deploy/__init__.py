"""Packaging the control plane for AWS: the merge template and the Lambda policy (see docs/deploying.md)."""
