"""Fixtures shared by the test tiers: the Lambda artifact, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bucketguard import packaging


@pytest.fixture(scope="session")
def lambda_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real arm64 / Python 3.12 build (pip fetches the platform wheels; PyPI access needed)."""
    output = tmp_path_factory.mktemp("lambda")
    packaging.build("arm64", output)
    return output


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled rules are cached under the session's own directory, never the user's home."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI's boto3 session, offline: moto's test credentials and region, no ~/.aws of the user's."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)


# The slow tier (`make test` runs it, `make test-fast` skips it): whole deployments into the embedded AWS,
# Pulumi programs each in a fresh interpreter (every test that needs the built Lambda artifacts), and
# whatever a test marks e2e or slow itself.
SLOW_PATHS = ("tests/e2e/", "tests/sandbox/", "tests/infra/test_program.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        artifacts = "lambda_artifacts" in getattr(item, "fixturenames", ())
        if where.startswith(SLOW_PATHS) or artifacts or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.slow)
