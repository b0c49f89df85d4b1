"""Verdict tags and S3's 10-tag limit (unit tier, property-based)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.tagging import (
    MAX_TAGS,
    TAG_RESULT,
    merge_tags,
    own_tags,
    scan_date_of,
    tag_value,
    verdict_tags,
)
from bucketguard.scanning.result import Finding, FindingSource, ScanResult, Severity, Verdict


def _event() -> ScanResultEvent:
    finding = Finding("EICAR_Test_File", FindingSource.YARA, Severity.HIGH, "a.zip!eicar.com")
    return ScanResultEvent(
        scan_id="s",
        request_id="r",
        storage_stack_id="camp",
        bucket="b",
        key="k",
        version_id="v",
        etag="e",
        result=ScanResult(
            "k", Verdict.MALICIOUS, (finding, finding), sha256="0" * 64, size=1, ruleset_version="sha256:abc"
        ),
        scanner_id="x",
        scanned_at="2026-07-01T09:30:00.123Z",
    )


def test_verdict_tags() -> None:
    assert verdict_tags(_event()) == {
        "bucketguard-scan-result": "malicious",
        "bucketguard-scan-date": "2026-07-01T09:30:00.123Z",
        "bucketguard-scan-detail": "EICAR_Test_File",
        "bucketguard-ruleset": "sha256:abc",
    }


def test_tag_values_keep_to_the_characters_s3_allows() -> None:
    assert tag_value("a,b;c<d>" + "x" * 300) == "a_b_c_d_" + "x" * 248


keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20).filter(
    lambda k: not k.startswith("bucketguard-")
)
values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ", max_size=12)


@given(st.dictionaries(keys, values, max_size=10))
def test_the_verdict_always_fits_and_own_tags_survive(existing: dict[str, str]) -> None:
    merged = merge_tags(existing.items(), verdict_tags(_event()))
    assert len(merged.tags) <= MAX_TAGS
    assert merged.tags[TAG_RESULT] == "malicious"
    assert scan_date_of(merged.tags) == "2026-07-01T09:30:00.123Z"
    kept = own_tags(merged.tags.items())
    assert {k: v for k, v in existing.items() if k not in merged.lost} == kept
    # merging again (a redelivered result) changes nothing
    assert merge_tags(merged.tags.items(), verdict_tags(_event())).tags == merged.tags


def test_long_own_tags_that_cannot_be_folded_are_reported_not_silently_dropped() -> None:
    existing = {f"key{i}": "v" * 200 for i in range(10)}
    merged = merge_tags(existing.items(), verdict_tags(_event()))
    assert merged.tags[TAG_RESULT] == "malicious"
    assert merged.lost  # named, so the caller logs and alerts them
    assert set(own_tags(merged.tags.items())) | set(merged.lost) == set(existing)
