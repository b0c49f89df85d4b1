"""Read again what an event touched, with the audit's own collectors.

An S3 bucket is read alone (``collect_bucket``); the account's Block Public Access alone. The other services'
collectors list their resources in the event's region (IAM: one account-wide listing), and the monitor then
keeps only the findings on the event's resource. What the joins need comes along: a Lambda function's
execution role (IAM), which buckets receive logs (every bucket, for the logging rule only). A bucket's
listener is one the deployment made (``Monitor.listeners``), never read from the account.
"""

from __future__ import annotations

from collections.abc import Iterable

import boto3

from bucketguard.audit import s3
from bucketguard.audit.reader import GLOBAL, Collection, Reader, ResourceGone
from bucketguard.audit.run import Account, collect_unit
from bucketguard.monitor.table import Target
from bucketguard.rules.facts import BucketFacts

EVERY_REGION = tuple(sorted(boto3.session.Session().get_available_regions("s3")))  # botocore's own list


def _reader(account: Account, region: str, regions: Iterable[str] = EVERY_REGION) -> Reader:
    return Reader(
        account.clients, Collection(account.account_id, GLOBAL), region=region, audited_regions=regions
    )


def _bucket(account: Account, target: Target) -> Collection:
    reader = _reader(account, target.region)
    try:
        s3.collect_bucket(reader, target.name)
    except ResourceGone as exc:
        reader.collection.notes.append(f"bucket {target.name} is gone ({exc})")
    return reader.collection


def _account_buckets(account: Account, region: str) -> Collection:
    """The account Block Public Access and the bucket names (account rules judge accounts with buckets)."""
    reader = _reader(account, region)
    client = reader.client("s3")
    for bucket in reader.paginate(client, s3.LIST_BUCKETS, "Buckets", sized=False):
        name = str(bucket["Name"])
        reader.collection.facts.setdefault("buckets", []).append(
            BucketFacts(name=name, type=s3.BUCKET_TYPE, ref=f"arn:aws:s3:::{name}", bucket_name=name)
        )
    s3.collect_account_public_access_block(reader)
    return reader.collection


def _unit(account: Account, region: str, services: tuple[str, ...], home: str) -> Collection:
    """``home``: the region a global service's unit calls from (the event's: an opt-in region may be off)."""
    regions = (home, *(r for r in EVERY_REGION if r != home)) if region == GLOBAL else (region,)
    return collect_unit(Account(account.account_id, account.clients, regions), region, services)


def collect_target(
    account: Account, target: Target, rules: Iterable[str], regions: Iterable[str] = ()
) -> list[Collection]:
    """The collections to judge ``rules`` on ``target``; ``regions``: every region monitored (a trail's
    rules are about the whole account)."""
    wanted = set(rules)
    home = target.region
    if target.kind == "bucket":
        collections = [_bucket(account, target)]
        if "s3_bucket_access_logging_enabled" in wanted:  # a bucket receiving logs needs none
            collections += [
                _unit(account, GLOBAL, ("s3",), home),
                _unit(account, target.region, ("cloudtrail",), home),
            ]
        return collections
    if target.kind == "account_pab":
        return [_account_buckets(account, target.region)]
    if target.kind == "iam":
        return [_unit(account, GLOBAL, ("iam",), home)]
    if target.kind == "lambda":  # execution roles' grants come from IAM
        return [_unit(account, target.region, ("lambda",), home), _unit(account, GLOBAL, ("iam",), home)]
    if target.kind == "cloudtrail":
        every = sorted({target.region, *regions})
        return [_account_buckets(account, target.region)] + [
            _unit(account, r, ("cloudtrail",), home) for r in every
        ]
    return [_unit(account, target.region, (target.kind,), home)]
