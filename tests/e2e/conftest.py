"""End-to-end fixtures: a fresh embedded AWS (moto server on 127.0.0.1) with the example stack config
deployed into it by the real infra/ program, and its functions run by the local runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bucketguard.pipeline.messages import scan_result_event_schema
from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, read_stack_config
from bucketguard.sandbox.sandbox import Sandbox

_VALIDATOR = jsonschema.Draft202012Validator(
    scan_result_event_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
Deploy = Callable[..., Sandbox]


def camp_config(**storage: Any) -> dict[str, Any]:
    """examples/stacks/Pulumi.dev.yaml with every post-scan action (promote too), and `storage` keys."""
    config = read_stack_config(EXAMPLE_STACKS / "Pulumi.dev.yaml")
    (teaching,) = config["bucketguard:storages"]
    config["bucketguard:storages"] = [
        {
            **teaching,
            "actions": ["tag", "quarantine", "promote", "notify"],
            "promoteBucket": f"{teaching['bucket']}-published",
            **storage,
        }
    ]
    return config


def _deployer(stack: ExitStack, artifacts: Path, workdir: Callable[[], Path]) -> Deploy:
    def up(config: dict[str, Any] | str, name: str = "dev") -> Sandbox:
        """A stack config, or the name of one in examples/stacks/ (then also the stack's name), deployed
        into an embedded AWS of its own; stopped when the fixture ends."""
        if isinstance(config, str):
            name, config = config, read_stack_config(EXAMPLE_STACKS / f"Pulumi.{config}.yaml")
        aws = stack.enter_context(EmbeddedAws())
        sandbox = Sandbox.up(aws, config, stack=name, artifact_dir=artifacts, workdir=workdir())
        stack.callback(sandbox.stop)
        return sandbox

    return up


@pytest.fixture(scope="module")
def deploy_for_module(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deploy]:
    """Deploys once for a test module, whose tests share the deployment."""
    with ExitStack() as stack:
        yield _deployer(stack, lambda_artifacts, lambda: tmp_path_factory.mktemp("stack"))


@pytest.fixture
def deploy(lambda_artifacts: Path, tmp_path: Path) -> Iterator[Deploy]:
    """Deploys for one test, for tests that change the deployment."""
    with ExitStack() as stack:
        yield _deployer(stack, lambda_artifacts, lambda: tmp_path)


@pytest.fixture(scope="module")
def camp(deploy_for_module: Deploy) -> Sandbox:
    """The camp deployed once per test module; `pipeline` empties it before each test."""
    return deploy_for_module(camp_config())


@pytest.fixture
def pipeline(camp: Sandbox) -> Iterator[Sandbox]:
    camp.empty()
    yield camp
    # every test: every event the scanner published satisfies the schema
    for event in camp.published_events():
        _VALIDATOR.validate(event)


def validated_events(pipe: Sandbox) -> list[dict[str, Any]]:
    events = pipe.published_events()
    for event in events:
        _VALIDATOR.validate(event)
    return events


def dlq_bodies(queue_url: str, account: Any) -> list[str]:
    sqs = account.shared("sqs")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return [m["Body"] for m in got]


def assert_nothing_stuck(pipe: Sandbox) -> None:
    st, sc = pipe.storage, pipe.scanner
    assert pipe.queue_depth(st.listener_queue_url) == 0
    assert pipe.queue_depth(st.postscan_queue_url) == 0
    assert pipe.queue_depth(sc.queue_url, sc.account) == 0
    assert pipe.queue_depth(st.listener_dlq_url) == 0
    assert pipe.queue_depth(st.postscan_dlq_url) == 0
    assert pipe.queue_depth(sc.dlq_url, sc.account) == 0
