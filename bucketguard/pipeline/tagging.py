"""The verdict tags (a contract), their seal, and how they are merged with the tags an object already has.

S3 allows 10 tags per object. Ours take up to 6; when the object's own tags leave no room, ours are merged
into fewer keys and, if still needed, the object's extra tags are folded into one tag.
The verdict is never dropped.

Anyone who can write an object can also write its tags (a PutObject with `x-amz-tagging`, a CopyObject that
copies the source's tags), so a `bucketguard-*` tag proves nothing by itself. Post-scan seals the platform
tags it writes with an HMAC (a KMS key only post-scan may use) bound to the bucket, key, version and ETag of
the scanned object; platform tags whose seal does not verify are treated as absent.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.scanning.result import Verdict

TAG_PREFIX = "bucketguard-"
TAG_RESULT = "bucketguard-scan-result"
TAG_DATE = "bucketguard-scan-date"
TAG_DETAIL = "bucketguard-scan-detail"
TAG_RULESET = "bucketguard-ruleset"
TAG_SCAN_INFO = "bucketguard-scan"  # date, ruleset and detail in one value when tags are short
TAG_FOLDED = "bucketguard-folded-tags"  # the object's own tags that did not fit, base32 JSON
TAG_ALERTED = (
    "bucketguard-alerted"  # the verdict an alert was sent for (notify is once per version and verdict)
)
TAG_SEAL = "bucketguard-seal"  # HMAC over the other platform tags and the object's identity
PLATFORM_TAGS = (
    TAG_RESULT,
    TAG_DATE,
    TAG_DETAIL,
    TAG_RULESET,
    TAG_SCAN_INFO,
    TAG_FOLDED,
    TAG_ALERTED,
    TAG_SEAL,
)
MAX_TAGS = 10
MAX_VALUE = 256
_NOT_ALLOWED = re.compile(
    r"[^\w .:/=+\-@]", re.UNICODE
)  # S3 tag values: letters, digits, space, _ . : / = + - @


Mac = Callable[[bytes], bytes]  # HMAC under the seal key (KMS GenerateMac); None where no key is configured


def tag_value(text: str) -> str:
    return _NOT_ALLOWED.sub("_", text)[:MAX_VALUE]


def scan_detail(event: ScanResultEvent) -> str:
    result = event.result
    if result.verdict is Verdict.MALICIOUS:
        rules = list(dict.fromkeys(f.rule for f in result.findings))
        return tag_value(" ".join(rules))
    if result.reason is not None:
        return tag_value(result.reason.value)
    return ""


def verdict_tags(event: ScanResultEvent) -> dict[str, str]:
    return {
        TAG_RESULT: event.verdict.value,
        TAG_DATE: tag_value(event.scanned_at),
        TAG_DETAIL: scan_detail(event) or "-",
        TAG_RULESET: tag_value(event.result.ruleset_version or "-"),
    }


@dataclass(frozen=True)
class MergedTags:
    tags: dict[str, str]
    lost: tuple[str, ...] = ()  # keys of the object's own tags that could not be kept (logged and alerted)


def _fold(tags: Mapping[str, str]) -> str:
    raw = json.dumps(dict(tags), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b32encode(raw).decode()  # A-Z, 2-7 and '=': all allowed in tag values


def unfold(value: str) -> dict[str, str]:
    try:
        data = json.loads(base64.b32decode(value.encode()))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def own_tags(existing: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The object's tags that are not ours, with any previously folded tags restored."""
    mine: dict[str, str] = {}
    folded: dict[str, str] = {}
    for key, value in existing:
        if key == TAG_FOLDED:
            folded = unfold(value)
        elif not is_platform_tag(key):
            mine[key] = value
    return {**mine, **folded}


def merge_tags(existing: Iterable[tuple[str, str]], ours: Mapping[str, str]) -> MergedTags:
    others = own_tags(existing)
    if len(others) + len(ours) <= MAX_TAGS:
        return MergedTags({**others, **ours})
    info = " ".join(ours[k] for k in (TAG_DATE, TAG_RULESET, TAG_DETAIL) if k in ours)
    compact = {TAG_RESULT: ours[TAG_RESULT], TAG_SCAN_INFO: tag_value(info)}
    compact.update({k: ours[k] for k in (TAG_ALERTED, TAG_SEAL) if k in ours})
    if len(others) + len(compact) <= MAX_TAGS:
        return MergedTags({**others, **compact})
    keys = sorted(others)
    kept_keys = keys[: MAX_TAGS - len(compact) - 1]
    to_fold = {k: others[k] for k in keys[len(kept_keys) :]}
    lost: list[str] = []
    while to_fold and len(_fold(to_fold)) > MAX_VALUE:
        last = sorted(to_fold)[-1]
        lost.append(last)
        del to_fold[last]
    merged = {**{k: others[k] for k in kept_keys}, **compact}
    if to_fold:
        merged[TAG_FOLDED] = _fold(to_fold)
    return MergedTags(merged, tuple(sorted(lost)))


def tagset(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def from_tagset(tag_set: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_set}


def scan_date_of(tags: Mapping[str, str]) -> str | None:
    """The scan date recorded in a tag set, in either the full or the compact form."""
    if TAG_DATE in tags:
        return tags[TAG_DATE]
    if TAG_SCAN_INFO in tags:
        return tags[TAG_SCAN_INFO].split(" ", 1)[0]
    return None


def ruleset_of(tags: Mapping[str, str]) -> str | None:
    """The ruleset version recorded in a tag set, in either the full or the compact form."""
    if TAG_RULESET in tags:
        return tags[TAG_RULESET]
    if TAG_SCAN_INFO in tags:
        parts = tags[TAG_SCAN_INFO].split(" ")
        return parts[1] if len(parts) > 1 else None
    return None


def is_platform_tag(key: str) -> bool:
    """Whether a tag key is the platform's in any case: S3 keeps `BucketGuard-Scan-Result` apart from
    `bucketguard-scan-result`, but IAM reads condition key names (`s3:ExistingObjectTag/<key>`) whatever
    their case, so a bucket policy may take either for the verdict."""
    return key.casefold().startswith(TAG_PREFIX)


def without_platform_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags an uploader may have set: every `bucketguard-*` tag removed (folded ones are not unfolded)."""
    return {k: v for k, v in tags.items() if not is_platform_tag(k)}


def seal_message(identity: Mapping[str, str], tags: Mapping[str, str]) -> bytes:
    """What the seal covers: the object's identity and every platform tag but the seal itself."""
    sealed = {k: v for k, v in tags.items() if is_platform_tag(k) and k != TAG_SEAL}
    document = {"object": dict(identity), "tags": sealed}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def object_identity(bucket: str, key: str, version_id: str | None, etag: str) -> dict[str, str]:
    """What a seal binds the tags to: in an unversioned bucket the ETag tells an overwrite apart."""
    return {"bucket": bucket, "key": key, "version": version_id or "null", "etag": etag.strip('"')}


def _seal_of(tags: Mapping[str, str], identity: Mapping[str, str], mac: Mac) -> str:
    return base64.b64encode(mac(seal_message(identity, tags))).decode()


def sealed(tags: Mapping[str, str], identity: Mapping[str, str], mac: Mac | None) -> dict[str, str]:
    """`tags` with the seal over their platform tags (none written without a key: nothing would trust it)."""
    unsealed = {k: v for k, v in tags.items() if k != TAG_SEAL}
    return unsealed if mac is None else {**unsealed, TAG_SEAL: _seal_of(unsealed, identity, mac)}


def trusted_tags(tags: Mapping[str, str], identity: Mapping[str, str], mac: Mac | None) -> dict[str, str]:
    """`tags` if their seal verifies for this object, else only the tags that are not platform tags."""
    if not any(is_platform_tag(k) for k in tags):
        return dict(tags)
    seal = tags.get(TAG_SEAL)
    if mac is None or seal is None or not hmac.compare_digest(seal, _seal_of(tags, identity, mac)):
        return without_platform_tags(tags)
    return dict(tags)


def neutralise_platform_tags(
    s3: Any,
    location: Mapping[str, str],
    *,
    identity: Mapping[str, str] | None = None,
    mac: Mac | None = None,
) -> bool:
    """Remove the platform tags of one object version unless sealed for `identity`. True when it removed some.

    `location` holds Bucket, Key and, for a version, VersionId. Without a key every platform tag goes.
    """
    tags = from_tagset(s3.get_object_tagging(**location)["TagSet"])
    kept = trusted_tags(tags, identity or {}, mac)
    if kept == tags:
        return False
    if kept:
        s3.put_object_tagging(**location, Tagging={"TagSet": tagset(kept)})
    else:
        s3.delete_object_tagging(**location)
    return True
