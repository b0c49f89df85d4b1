"""examples/stacks/Pulumi.multiaccount.yaml deployed by infra/ into the embedded AWS: the scanner in
111111111111 (eu-west-1), storages in 222222222222 (eu-west-1 and eu-central-1) and 333333333333
(eu-central-1), each function with its own role's credentials in its own account and region."""

from __future__ import annotations

import pytest

from bucketguard.demo import pranks
from bucketguard.sandbox.sandbox import Sandbox, StorageView
from tests.e2e.conftest import Deploy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def camp(deploy_for_module: Deploy) -> Sandbox:
    return deploy_for_module("multiaccount")


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
