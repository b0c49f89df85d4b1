"""Where the monitor's alerts go: the alert topic (e-mail subscriptions; the message is the alert's text
followed by its JSON document), optionally a Slack or Teams webhook (its URL a Secrets Manager secret, as
for the scanning alerts) and Security Hub (ASFF, with the audit's finding ids: a monitor alert updates
the finding the audit raised, and a resolved one is archived).

A channel that refuses raises (the topic, Security Hub): the event is retried, alerts are at least once.
A webhook failure is logged only: the topic already carries the alert.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bucketguard.asff import asff_finding, import_findings
from bucketguard.audit.reader import GLOBAL
from bucketguard.monitor.core import Alert
from bucketguard.pipeline.notify import WebhookNotifier
from bucketguard.printable import one_line
from bucketguard.rules.frameworks import related_requirements

SUBJECT_MAX = 99  # SNS subjects are shorter than 100 characters


def alert_subject(alert: Alert) -> str:
    subject = one_line(
        f"[bucketguard] {alert.status} {alert.severity}: {alert.rule_id} on {alert.resource_name}"
    )
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 3] + "..."


def alert_text(alert: Alert) -> str:
    # The event's fields are the caller's (a user agent is any text): each shown on its line, printable, or a
    # line break in one would write lines of its own ('Fix:        none needed'). The remediation is ours.
    a = alert.model_copy(update={name: one_line(v) for name, v in alert if isinstance(v, str)})
    lines = [
        f"{a.status.upper()}: {a.title}",
        f"Rule:       {a.rule_id} ({a.severity})",
        f"Resource:   {a.resource_arn}",
        f"Account:    {a.account} / {a.region}",
        f"Finding:    {a.message}",
        f"Who:        {a.actor} ({a.actor_type}"
        + (f", session {a.identity_arn}" if a.identity_arn and a.identity_arn != a.actor else "")
        + ")",
        f"When:       {a.event_time} ({a.event_name}, request {a.request_id or '-'})",
        f"From:       {a.source_ip or '-'} ({a.user_agent or '-'})",
        f"Fix:        {alert.remediation}",
    ]
    if a.detail:
        lines.append(f"Detail:     {a.detail}")
    return "\n".join(lines)


def asff(alert: Alert, home_region: str) -> dict[str, Any]:
    """The alert as the audit's ASFF finding (same id); ``home_region`` for global resources (IAM)."""
    open_finding = alert.status in ("new", "remediation_failed")
    finding = asff_finding(
        finding_id=alert.finding_id,
        account=alert.account,
        region=alert.region if alert.region != GLOBAL else home_region,
        generator_id=alert.rule_id,
        title=alert.title,
        description=f"{alert.resource_name}: {alert.message} ({alert.event_name} by {alert.actor})",
        severity=alert.severity,
        resource_arn=alert.resource_arn,
        created_at=alert.event_time,
        updated_at=alert.event_time,
        related_requirements=related_requirements(alert.rule_id),
        recommendation=alert.remediation,
        product_fields={
            "bucketguard/rule_id": alert.rule_id,
            "bucketguard/status": alert.status,
            "bucketguard/actor": alert.actor,
            "bucketguard/event_id": alert.event_id,
        },
        compliance_status="FAILED" if open_finding else "PASSED",
    )
    if not open_finding:
        finding["RecordState"] = "ARCHIVED"
    return finding


@dataclass
class AlertChannels:
    """``sns`` + ``topic_arn``: the alert topic; ``securityhub_for(region)``: a Security Hub client of that
    region (None: not sent there)."""

    sns: Any = None
    topic_arn: str = ""
    webhook: WebhookNotifier | None = None
    securityhub_for: Callable[[str], Any] | None = None
    home_region: str = "us-east-1"

    def __call__(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            text = alert_text(alert)
            if self.sns is not None and self.topic_arn:
                self.sns.publish(
                    TopicArn=self.topic_arn,
                    Subject=alert_subject(alert),
                    Message=f"{text}\n\n{alert.model_dump_json(indent=2)}",
                    MessageAttributes={
                        "status": {"DataType": "String", "StringValue": alert.status},
                        "severity": {"DataType": "String", "StringValue": alert.severity},
                    },
                )
            if self.webhook is not None:
                self.webhook.send(text)
        if self.securityhub_for is not None:
            by_region: dict[str, list[dict[str, Any]]] = {}
            for alert in alerts:
                finding = asff(alert, self.home_region)
                by_region.setdefault(str(finding["Region"]), []).append(finding)
            for region, findings in by_region.items():
                import_findings(self.securityhub_for(region), findings)


def alert_from_message(message: str) -> Alert:
    """The alert in a topic message (its JSON document follows the text)."""
    return Alert.model_validate(json.loads(message[message.index("\n\n{") + 2 :]))
