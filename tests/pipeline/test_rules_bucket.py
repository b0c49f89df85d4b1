"""The rules bucket through boto3 against moto's server: s3:// rule sources listed, read, and unchanged
when no object changed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from bucketguard.demo import pranks
from bucketguard.pipeline.rules_bucket import S3ObjectStore
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, EmbeddedAws
from bucketguard.scanning.feeds import FeedError, FeedSource, HttpClient, fetch
from tests.scanning.test_feeds import RULE

EICAR_SHA256 = hashlib.sha256(pranks.eicar()).hexdigest()


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with EmbeddedAws() as aws:
        client = aws.account(SCANNER_ACCOUNT).client("s3")
        client.create_bucket(Bucket="team-rules")
        yield client


def test_s3_prefix_gives_its_rules_and_hash_lists_and_notices_changes(s3: Any) -> None:
    s3.put_object(Bucket="team-rules", Key="feed/yara/camp.yar", Body=RULE.encode())
    s3.put_object(Bucket="team-rules", Key="feed/hashes.txt", Body=f"{EICAR_SHA256} eicar\n".encode())
    s3.put_object(Bucket="team-rules", Key="other/ignored.yar", Body=b"not a rule")
    store, source = S3ObjectStore(s3), FeedSource.parse("s3://team-rules/feed/")

    first = fetch(source, store=store)
    assert first.content is not None
    assert first.content.rule_files == (("yara/camp.yar", RULE),)
    assert first.content.hashes.lookup(EICAR_SHA256) == "eicar"
    assert fetch(source, store=store, previous=first.state).unchanged

    s3.put_object(Bucket="team-rules", Key="feed/yara/camp.yar", Body=RULE.replace("7f3a", "7f3b").encode())
    changed = fetch(source, store=store, previous=first.state)
    assert changed.content is not None and "7f3b" in changed.content.rule_files[0][1]


def test_s3_object_over_the_cap_and_missing_bucket_fail_naming_the_source(s3: Any) -> None:
    s3.put_object(Bucket="team-rules", Key="big/rules.yar", Body=RULE.encode())
    with pytest.raises(FeedError, match=r"source big .*over the feed size cap"):
        fetch(FeedSource("big", "s3://team-rules/big/", kind="s3"), store=S3ObjectStore(s3),
              http=HttpClient(max_bytes=10))  # fmt: skip
    with pytest.raises(FeedError, match="cannot list: NoSuchBucket"):
        fetch(FeedSource.parse("s3://no-such-bucket/x"), store=S3ObjectStore(s3))
