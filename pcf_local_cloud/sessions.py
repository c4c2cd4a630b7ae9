"""boto3 sessions for the local cloud: fake credentials, no shell configuration, quick to make.

A session here ignores the developer's AWS environment (``AWS_PROFILE``, config and credentials files,
``AWS_ENDPOINT_URL``) so that no call can leave for a real account or another emulator. Sessions share
one botocore data loader: parsing the EC2 model costs ~0.3 s per new loader, and test suites make a
local cloud per test.
"""

from __future__ import annotations

import os
import threading

import boto3
import botocore.session
from botocore.loaders import Loader, create_loader

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"

_loader: Loader | None = None
_loader_lock = threading.Lock()


def _shared_loader() -> Loader:
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = create_loader()
        return _loader


def fake_session(region_name: str) -> boto3.Session:
    """A boto3 session with the fake credentials, in ``region_name``, blind to the shell's AWS setup."""
    core = botocore.session.Session()
    config_store = core.get_component("config_store")
    for name, value in (
        ("profile", None),
        ("config_file", os.devnull),
        ("credentials_file", os.devnull),
        ("ignore_configured_endpoint_urls", True),
    ):
        config_store.set_config_variable(name, value)  # overrides win over environment and files
    loader = _shared_loader()
    core.register_component("data_loader", loader)
    session = boto3.Session(
        botocore_session=core,
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
        region_name=region_name,
    )
    with _loader_lock:  # boto3 appends its data path to the loader once per session
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session
