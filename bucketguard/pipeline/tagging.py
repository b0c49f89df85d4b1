"""The verdict tags (a contract) and how they are merged with the tags an object already has.

S3 allows 10 tags per object. Ours take 4; when the object's own tags leave no room, ours are merged
into fewer keys and, if still needed, the object's extra tags are folded into one tag.
The verdict is never dropped.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.scanning.result import Verdict

TAG_PREFIX = "bucketguard-"
TAG_RESULT = "bucketguard-scan-result"
TAG_DATE = "bucketguard-scan-date"
TAG_DETAIL = "bucketguard-scan-detail"
TAG_RULESET = "bucketguard-ruleset"
TAG_SCAN_INFO = "bucketguard-scan"  # date, ruleset and detail in one value when tags are short
TAG_FOLDED = "bucketguard-folded-tags"  # the object's own tags that did not fit, base32 JSON
MAX_TAGS = 10
MAX_VALUE = 256
_NOT_ALLOWED = re.compile(
    r"[^\w .:/=+\-@]", re.UNICODE
)  # S3 tag values: letters, digits, space, _ . : / = + - @


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
        elif not key.startswith(TAG_PREFIX):
            mine[key] = value
    return {**mine, **folded}


def merge_tags(existing: Iterable[tuple[str, str]], ours: Mapping[str, str]) -> MergedTags:
    others = own_tags(existing)
    if len(others) + len(ours) <= MAX_TAGS:
        return MergedTags({**others, **ours})
    info = " ".join(ours[k] for k in (TAG_DATE, TAG_RULESET, TAG_DETAIL) if k in ours)
    compact = {TAG_RESULT: ours[TAG_RESULT], TAG_SCAN_INFO: tag_value(info)}
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
