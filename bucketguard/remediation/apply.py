"""Apply a fix: record each previous state to the undo log first, change, read the new state back into the
undo record, then re-collect the resource with the audit collectors and judge the rule again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.reader import GLOBAL, Collection, Reader, ResourceGone
from bucketguard.audit.run import (
    ACCESS_DENIED_RULE,
    GLOBAL_COLLECTORS,
    Account,
    account_arn,
    collect_unit,
    evaluate_account,
    join,
)
from bucketguard.audit.s3 import collect_bucket
from bucketguard.remediation.fixers import FixRefused, describe_error
from bucketguard.remediation.plan import Fix
from bucketguard.remediation.undo import UndoEntry, UndoLog

Status = Literal["remediated", "remediation_failed"]


@dataclass(frozen=True)
class RemediationResult:
    fix: Fix
    status: Status
    reason: str = ""  # why it failed; empty when remediated


def apply(fix: Fix, clients: ClientFactory, undo_log: UndoLog) -> RemediationResult:
    """Make ``fix`` (``clients`` are the finding's account's), then judge the rule again; never raises
    for what AWS answers."""
    try:
        change(fix, clients, undo_log)
    except FixRefused as exc:
        return RemediationResult(fix, "remediation_failed", str(exc))
    except (ClientError, BotoCoreError) as exc:
        return RemediationResult(fix, "remediation_failed", describe_error(exc))
    except ValueError as exc:  # a policy that is not JSON, or not a policy: nothing safe to change
        return RemediationResult(fix, "remediation_failed", f"unreadable state: {describe_error(exc)}")
    remaining = still_failing(fix, clients)
    if remaining:
        return RemediationResult(fix, "remediation_failed", f"the rule still fails: {remaining}")
    return RemediationResult(fix, "remediated")


def change(fix: Fix, clients: ClientFactory, undo_log: UndoLog) -> None:
    """Each fixer in turn: read, record, write, read back into the record. A state already as wanted is
    left alone (and not recorded)."""
    target = fix.target
    for fixer in fix.fixers:
        client = clients.client(fixer.service, target.region)
        before = fixer.read(client, target)
        wanted = fixer.desired(before, target)
        if wanted == before:
            continue
        entry = UndoEntry.started(fix.finding.rule_id, fixer.name, target, before)
        undo_log.record(entry)
        fixer.write(client, target, before, wanted)
        undo_log.record(entry.applied_as(fixer.read(client, target)))


def still_failing(fix: Fix, clients: ClientFactory) -> str | None:
    """Re-collect the resource with the audit collectors and judge the rule: its message when it still
    fails (or cannot be judged), None when it passes."""
    finding = fix.finding
    service = finding.rule_id.split("_", 1)[0]
    home = clients.session.region_name or "us-east-1"
    try:
        if service == "s3":  # one bucket, not the account's every bucket
            collection = Collection(finding.account, GLOBAL)
            reader = Reader(clients, collection, region=home, audited_regions=(finding.region,))
            collect_bucket(reader, finding.arn.split(":::", 1)[-1])
        else:
            region = GLOBAL if service in GLOBAL_COLLECTORS else finding.region
            account = Account(finding.account, clients, (home if region == GLOBAL else region,))
            collection = collect_unit(account, region, (service,))
    except ResourceGone as exc:
        return f"the resource no longer exists ({exc})"
    except (ClientError, BotoCoreError) as exc:
        return f"could not re-read it: {describe_error(exc)}"
    stack = join([collection])
    judged = evaluate_account(finding.account, stack, collection.denials, {finding.rule_id: fix.config})
    resource = finding.arn.split("#", 1)[0]  # a Lambda permission's function
    for found in judged:
        if found.rule_id == finding.rule_id and found.arn == finding.arn:
            return found.message
        if found.rule_id == ACCESS_DENIED_RULE and found.arn in (resource, account_arn(finding.account)):
            return found.message
    # IAM principals without policies leave no facts; any other resource does.
    present = service == "iam" or any(f.ref == resource for f in stack.resources)
    return None if present else "the resource no longer exists"
