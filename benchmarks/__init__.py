"""Benchmarks on the local cloud: library-mode ``apply()`` (makespan against the critical path, EC2 API calls
per particle and per poll), the same through the deployed Step Functions control plane (makespan, state
transitions, history sizes), ``import app`` time and the deployment package size. Run with
``python -m benchmarks`` (see ``README.md``)."""
