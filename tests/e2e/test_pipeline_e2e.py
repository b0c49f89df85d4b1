"""The scanning pipeline end to end on the embedded AWS, deployed by the real infra/ program from
examples/stacks/Pulumi.dev.yaml (the camp: one account, one region; promote added).

Real boto3 calls against moto's server, real YARA rules on the engine's prank files. In every test nothing
may be lost: an object leaves its bucket only after a verified copy exists elsewhere.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from bucketguard.demo import pranks
from bucketguard.sandbox.sandbox import Sandbox
from tests.e2e.conftest import Deploy, assert_nothing_stuck, camp_config, dlq_bodies, validated_events

pytestmark = pytest.mark.e2e


def _put(pipe: Sandbox, key: str, body: bytes, **extra: object) -> str:
    return str(pipe.s3.put_object(Bucket=pipe.storage.bucket, Key=key, Body=body, **extra)["VersionId"])


def test_eicar_in_nested_zip_is_quarantined_and_every_version_gone_from_the_source(
    pipeline: Sandbox,
) -> None:
    body = pranks.eicar_nested_zip()
    version = _put(pipeline, "lessons/week1/handout.zip", body, Metadata={"teacher": "ada"})
    pipeline.drain()

    assert pipeline.versions(prefix="lessons/") == []  # no infected noncurrent version left behind
    quarantined = pipeline.versions(pipeline.storage.quarantine_bucket)
    assert [v["Key"] for v in quarantined] == [f"{pipeline.storage.bucket}/lessons/week1/handout.zip"]
    copy = pipeline.s3.get_object(Bucket=pipeline.storage.quarantine_bucket, Key=quarantined[0]["Key"])
    assert copy["Body"].read() == body
    assert copy["Metadata"] == {"teacher": "ada"}
    tags = pipeline.tags(quarantined[0]["Key"], bucket=pipeline.storage.quarantine_bucket)
    assert tags["bucketguard-scan-result"] == "malicious"
    assert "EICAR" in tags["bucketguard-scan-detail"].upper()
    events = validated_events(pipeline)
    assert [(e["version_id"], e["verdict"], e["sha256"]) for e in events] == [
        (version, "malicious", hashlib.sha256(body).hexdigest())
    ]
    alerts = pipeline.alerts()
    assert len(alerts) == 1 and "malicious" in alerts[0]["Subject"] and "quarantined" in alerts[0]["Message"]
    assert_nothing_stuck(pipeline)


def test_clean_file_is_tagged_clean_and_promoted(pipeline: Sandbox) -> None:
    body = pranks.clean_pdf()
    version = _put(pipeline, "lessons/intro.pdf", body, Tagging="course=python")
    pipeline.drain()

    tags = pipeline.tags("lessons/intro.pdf", version)
    assert tags["bucketguard-scan-result"] == "clean"
    assert tags["course"] == "python"  # the object's own tags are kept
    assert tags["bucketguard-scan-date"].endswith("Z")
    assert tags["bucketguard-ruleset"].startswith("sha256:")
    promoted = pipeline.s3.get_object(Bucket=pipeline.storage.promote_bucket, Key="lessons/intro.pdf")
    assert promoted["Body"].read() == body
    assert (
        pipeline.tags("lessons/intro.pdf", bucket=pipeline.storage.promote_bucket)["bucketguard-scan-result"]
        == "clean"
    )
    assert [e["verdict"] for e in validated_events(pipeline)] == ["clean"]
    assert pipeline.alerts() == []  # clean results alert nobody by default
    assert_nothing_stuck(pipeline)


def test_injected_javascript_is_caught(pipeline: Sandbox) -> None:
    _put(pipeline, "site/js/app.js", pranks.injected_js())
    pipeline.drain()
    (event,) = validated_events(pipeline)
    assert event["verdict"] == "malicious"
    assert event["findings"] and all(f["source"] in ("yara", "hash", "type") for f in event["findings"])
    assert pipeline.versions(prefix="site/") == []
    assert pipeline.versions(pipeline.storage.quarantine_bucket)[0]["Key"].endswith("site/js/app.js")


def test_encrypted_zip_is_tagged_unscannable_and_left_in_place(pipeline: Sandbox) -> None:
    version = _put(pipeline, "homework/secret.zip", pranks.encrypted_zip())
    pipeline.drain()
    tags = pipeline.tags("homework/secret.zip", version)
    assert tags["bucketguard-scan-result"] == "unscannable"
    assert tags["bucketguard-scan-detail"] == "encrypted"
    assert pipeline.versions(pipeline.storage.quarantine_bucket) == []
    assert pipeline.versions(pipeline.storage.promote_bucket) == []  # never promoted: not clean
    (event,) = validated_events(pipeline)
    assert event["reason"] == "encrypted"
    assert len(pipeline.alerts()) == 1


def test_zero_byte_object_is_scanned(pipeline: Sandbox) -> None:
    version = _put(pipeline, "empty.txt", b"")
    pipeline.drain()
    assert pipeline.tags("empty.txt", version)["bucketguard-scan-result"] == "clean"
    (event,) = validated_events(pipeline)
    assert event["size"] == 0 and event["sha256"] == hashlib.sha256(b"").hexdigest()


def test_object_overwritten_during_its_scan_only_the_scanned_version_is_acted_on(
    pipeline: Sandbox,
) -> None:
    listener, scanner = pipeline.runner.source("listener"), pipeline.runner.source("scanner")
    bad = _put(pipeline, "site/index.js", pranks.injected_js())
    listener.poll_once()
    scanner.poll_once()  # v1 scanned; its result waits in the post-scan queue
    good = _put(pipeline, "site/index.js", pranks.clean_js())  # the camper's overwrite lands now
    pipeline.drain()

    versions = {v["VersionId"]: v for v in pipeline.versions(prefix="site/")}
    assert bad not in versions  # the scanned malicious version was quarantined
    assert good in versions and versions[good]["IsLatest"]
    assert pipeline.tags("site/index.js", good)["bucketguard-scan-result"] == "clean"  # from its own scan
    events = validated_events(pipeline)
    assert {(e["version_id"], e["verdict"]) for e in events} == {(bad, "malicious"), (good, "clean")}
    assert_nothing_stuck(pipeline)


def test_same_result_delivered_twice_is_harmless(pipeline: Sandbox) -> None:
    _put(pipeline, "lessons/a.zip", pranks.eicar_nested_zip())
    clean_version = _put(pipeline, "lessons/b.pdf", pranks.clean_pdf())
    pipeline.drain()
    events = validated_events(pipeline)
    first_alerts = pipeline.alerts()
    tags_before = pipeline.tags("lessons/b.pdf", clean_version)

    sqs = pipeline.storage.account.shared("sqs")
    for event in events:  # SNS delivers at least once: replay every result
        sqs.send_message(QueueUrl=pipeline.storage.postscan_queue_url, MessageBody=json.dumps(event))
    pipeline.drain()

    assert len(first_alerts) == 1
    assert pipeline.alerts() == []  # no second alert
    assert pipeline.tags("lessons/b.pdf", clean_version) == tags_before
    assert len(pipeline.versions(pipeline.storage.quarantine_bucket)) == 1
    assert len(pipeline.versions(pipeline.storage.promote_bucket)) == 1
    assert_nothing_stuck(pipeline)


def test_poison_message_reaches_the_scanner_dlq_and_blocks_nothing(pipeline: Sandbox) -> None:
    sc = pipeline.scanner
    listener_sqs = pipeline.storage.listener_role.client("sqs")  # a registered listener sends garbage
    listener_sqs.send_message(QueueUrl=sc.queue_url, MessageBody="{not json")
    version = _put(pipeline, "ok.pdf", pranks.clean_pdf())
    pipeline.drain()

    assert dlq_bodies(sc.dlq_url, sc.account) == ["{not json"]
    assert pipeline.tags("ok.pdf", version)["bucketguard-scan-result"] == "clean"
    # the poison message maxReceiveCount times (then redriven), the upload's request once: counted in
    # records, as batches of up to 10 may carry both in one invocation
    assert pipeline.runner.source("scanner").records == 3 + 1


@pytest.mark.parametrize(
    "key",
    [
        "lessons/week 1/intro to python.pdf",
        "a+b=c/plus+sign.pdf",
        "leçons/été/résumé 🎉.pdf",
        "/".join(f"level{i}" for i in range(30)) + "/deep.pdf",
    ],
)
def test_awkward_keys(pipeline: Sandbox, key: str) -> None:
    version = _put(pipeline, key, pranks.clean_pdf())
    pipeline.drain()
    assert pipeline.tags(key, version)["bucketguard-scan-result"] == "clean"
    (event,) = validated_events(pipeline)
    assert event["key"] == key
    assert pipeline.s3.head_object(Bucket=pipeline.storage.promote_bucket, Key=key)["ContentLength"] > 0


def test_awkward_key_with_malware_is_quarantined_under_its_exact_name(pipeline: Sandbox) -> None:
    key = "devoirs/prank + joke/ça va.js"
    _put(pipeline, key, pranks.injected_js())
    pipeline.drain()
    assert [v["Key"] for v in pipeline.versions(pipeline.storage.quarantine_bucket)] == [
        f"{pipeline.storage.bucket}/{key}"
    ]


def test_object_deleted_before_its_scan_is_dropped_not_retried(pipeline: Sandbox) -> None:
    listener = pipeline.runner.source("listener")
    early = _put(pipeline, "gone-early.txt", b"deleted before the listener saw it")
    pipeline.s3.delete_object(Bucket=pipeline.storage.bucket, Key="gone-early.txt", VersionId=early)
    late = _put(pipeline, "gone-late.txt", b"deleted after the scan was requested")
    listener.poll_once()
    pipeline.s3.delete_object(Bucket=pipeline.storage.bucket, Key="gone-late.txt", VersionId=late)
    pipeline.drain()

    events = validated_events(pipeline)
    # the listener dropped the first; the second was reported as an error the post-scan function dropped
    assert [(e["key"], e["verdict"]) for e in events] == [("gone-late.txt", "error")]
    assert pipeline.versions() == []
    assert_nothing_stuck(pipeline)


def test_copy_failing_midway_through_quarantine_keeps_the_original_and_retries(
    pipeline: Sandbox,
) -> None:
    st = pipeline.storage
    deployed_policy = pipeline.s3.get_bucket_policy(Bucket=st.quarantine_bucket)["Policy"]
    outage = json.loads(deployed_policy)
    outage["Statement"].append(
        {
            "Sid": "Outage",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{st.quarantine_bucket}/*",
        }
    )
    pipeline.s3.put_bucket_policy(Bucket=st.quarantine_bucket, Policy=json.dumps(outage))
    version = _put(pipeline, "lessons/evil.zip", pranks.eicar_nested_zip())
    listener, scanner, postscan = (pipeline.runner.source(k) for k in ("listener", "scanner", "postscan"))
    listener.poll_once()
    scanner.poll_once()
    report = postscan.poll_once()
    assert report.failed == 1  # the copy was refused...
    assert (
        pipeline.tags("lessons/evil.zip", version)["bucketguard-scan-result"] == "malicious"
    )  # ...after tagging
    assert pipeline.s3.get_object(
        Bucket=st.bucket, Key="lessons/evil.zip", VersionId=version
    )  # original intact

    pipeline.s3.put_bucket_policy(Bucket=st.quarantine_bucket, Policy=deployed_policy)  # the outage ends
    pipeline.drain()
    assert pipeline.versions(prefix="lessons/") == []
    assert len(pipeline.versions(st.quarantine_bucket)) == 1
    assert len(pipeline.alerts()) == 1  # the retry still alerts
    assert_nothing_stuck(pipeline)


def test_many_tags_never_push_out_the_verdict(pipeline: Sandbox) -> None:
    own = {f"label{i}": f"value{i}" for i in range(10)}  # the object already has S3's maximum
    version = _put(
        pipeline, "tagged.pdf", pranks.clean_pdf(), Tagging="&".join(f"{k}={v}" for k, v in own.items())
    )
    pipeline.drain()
    tags = pipeline.tags("tagged.pdf", version)
    assert len(tags) <= 10
    assert tags["bucketguard-scan-result"] == "clean"
    from bucketguard.pipeline.tagging import own_tags

    assert own_tags(tags.items()) == own  # every own tag still recoverable


def test_unscannable_too_large_is_never_clean(deploy: Deploy) -> None:
    config = camp_config()
    config["bucketguard:scanner"] = {**config["bucketguard:scanner"], "maxObjectBytes": 1000}
    pipe = deploy(config)
    version = str(
        pipe.s3.put_object(Bucket=pipe.storage.bucket, Key="big.bin", Body=b"x" * 5000)["VersionId"]
    )
    pipe.drain()
    tags = pipe.tags("big.bin", version)
    assert tags["bucketguard-scan-result"] == "unscannable" and tags["bucketguard-scan-detail"] == "too_large"
    (event,) = validated_events(pipe)
    assert event["sha256"] is None


def test_listener_dlq_gets_malformed_notifications(pipeline: Sandbox) -> None:
    sqs = pipeline.storage.account.shared("sqs")
    sqs.send_message(QueueUrl=pipeline.storage.listener_queue_url, MessageBody='{"Records": "nope"}')
    pipeline.drain()
    assert dlq_bodies(pipeline.storage.listener_dlq_url, pipeline.storage.account) == ['{"Records": "nope"}']


def test_skipped_prefixes_are_not_scanned(deploy: Deploy) -> None:
    pipe = deploy(camp_config(skipPrefixes=["tmp/"]))
    pipe.set_environment("listener", BUCKETGUARD_SKIP_SUFFIXES=".log")  # no stack config key for it
    pipe.s3.put_object(Bucket=pipe.storage.bucket, Key="tmp/x.pdf", Body=b"x")
    pipe.s3.put_object(Bucket=pipe.storage.bucket, Key="run.log", Body=b"x")
    pipe.drain()
    assert validated_events(pipe) == []
    with pytest.raises(ClientError):
        pipe.s3.head_object(Bucket=pipe.storage.promote_bucket, Key="run.log")


def test_promote_can_move_clean_objects_out_of_the_upload_bucket(deploy: Deploy) -> None:
    pipe = deploy(camp_config())
    pipe.set_environment("postscan", BUCKETGUARD_PROMOTE_DELETE_SOURCE="true")  # no stack config key for it
    body = pranks.clean_pdf()
    _put(pipe, "inbox/lesson.pdf", body)
    _put(pipe, "inbox/prank.js", pranks.injected_js())
    pipe.drain()
    assert pipe.versions(prefix="inbox/") == []  # clean one moved, malicious one quarantined
    promoted = pipe.s3.get_object(Bucket=pipe.storage.promote_bucket, Key="inbox/lesson.pdf")
    assert promoted["Body"].read() == body
    assert [v["Key"] for v in pipe.versions(pipe.storage.quarantine_bucket)] == [
        f"{pipe.storage.bucket}/inbox/prank.js"
    ]
    validated_events(pipe)
    assert_nothing_stuck(pipe)
