"""examples/stacks/Pulumi.multiaccount.yaml deployed by infra/ into the embedded AWS: the scanner in
111111111111 (eu-west-1), storages in 222222222222 (eu-west-1 and eu-central-1) and 333333333333
(eu-central-1), each function with its own role's credentials in its own account and region."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, read_stack_config
from bucketguard.sandbox.sandbox import Sandbox, StorageView

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def camp(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with EmbeddedAws() as aws:
        sandbox = Sandbox.up(
            aws,
            read_stack_config(EXAMPLE_STACKS / "Pulumi.multiaccount.yaml"),
            stack="multiaccount",
            artifact_dir=lambda_artifacts,
            workdir=tmp_path_factory.mktemp("multiaccount"),
        )
        yield sandbox
        sandbox.stop()


def _upload_eicar(camp: Sandbox, st: StorageView) -> None:
    camp.empty()
    st.account.client("s3", region_name=st.region).put_object(
        Bucket=st.bucket, Key="lessons/handout.zip", Body=pranks.eicar_nested_zip()
    )
    camp.drain()


def _quarantined(st: StorageView) -> list[str]:
    s3 = st.account.client("s3", region_name=st.region)
    return [v["Key"] for v in s3.list_object_versions(Bucket=st.quarantine_bucket).get("Versions", [])]


def test_a_storage_in_another_account_is_scanned_by_the_shared_scanner(camp: Sandbox) -> None:
    teaching = camp.storages["teaching"]
    assert (teaching.account.account_id, teaching.region) == ("222222222222", "eu-west-1")
    assert camp.scanner.account.account_id == "111111111111"
    _upload_eicar(camp, teaching)
    assert _quarantined(teaching) == [f"{teaching.bucket}/lessons/handout.zip"]
    assert camp.queue_depth(teaching.listener_dlq_url, teaching.account) == 0


def test_a_storage_in_another_region_is_scanned_by_the_shared_scanner(camp: Sandbox) -> None:
    media = camp.storages["media"]
    assert (media.account.account_id, media.region) == ("333333333333", "eu-central-1")
    _upload_eicar(camp, media)
    assert _quarantined(media) == [f"{media.bucket}/lessons/handout.zip"]
