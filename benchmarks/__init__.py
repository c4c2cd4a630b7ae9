"""Benchmarks of library-mode ``apply()`` on the local cloud: makespan against the critical path, and
EC2 API calls per particle and per poll. Run with ``python -m benchmarks`` (see ``README.md``)."""
