"""Human-readable alerts: an SNS topic (email subscriptions) and an optional Slack or Teams webhook.

The webhook URL is a secret kept in Secrets Manager; it is cached per container and never logged.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.printable import one_line

log = logging.getLogger("bucketguard.notify")


class AlertNotSent(Exception):
    """No alert channel accepted the alert: the result is retried until one does (then the DLQ)."""


def alert_subject(event: ScanResultEvent) -> str:
    subject = f"[bucketguard] {event.verdict.value}: s3://{event.bucket}/{one_line(event.key)}"
    return subject if len(subject) <= 99 else subject[:96] + "..."  # SNS subjects are < 100 characters


# An alert is read by people and must fit SNS (256 KiB) and a webhook (Teams takes 28 KB): an uploader
# chooses how many findings a file makes.
ALERT_FINDINGS = 20


def alert_text(event: ScanResultEvent, actions_taken: list[str]) -> str:
    r = event.result
    lines = [
        f"Object:   s3://{event.bucket}/{one_line(event.key)}",
        f"Version:  {event.version_id or '(unversioned)'}",
        f"Verdict:  {r.verdict.value}",
    ]
    if r.reason:
        lines.append(f"Reason:   {r.reason.value}" + (f" ({one_line(r.detail)})" if r.detail else ""))
    for finding in r.findings[:ALERT_FINDINGS]:
        where = f" in {one_line(finding.path)}" if finding.path else ""
        lines.append(f"Finding:  {finding.rule} [{finding.severity.value}]{where}")
    if unlisted := max(len(r.findings) - ALERT_FINDINGS, 0) + event.findings_omitted:
        lines.append(f"Findings: {unlisted} more not listed")
    lines += [
        f"Actions:  {', '.join(actions_taken) or 'none'}",
        f"Scanned:  {event.scanned_at} by {event.scanner_id} (ruleset {r.ruleset_version or '-'})",
        f"SHA-256:  {r.sha256 or '-'}",
    ]
    return "\n".join(lines)


SECRET_MAX_AGE_SECONDS = 300  # cached per container; a rotated webhook URL is read within five minutes


@dataclass
class WebhookNotifier:
    """Posts alerts to a Slack or Teams incoming webhook whose URL is a Secrets Manager secret (read and
    cached by Powertools' parameters utility through the given client).

    The secret is either the URL itself or JSON {"url": ..., "kind": "slack" | "teams"}.
    """

    secrets: Any
    secret_arn: str
    timeout: float = 10.0
    _provider: Any = field(init=False, repr=False)  # Powertools' SecretsProvider

    def __post_init__(self) -> None:
        # Imported here: Powertools' parameters module costs every importer of alerts 0.1-0.4 s.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        self._provider = SecretsProvider(boto3_client=self.secrets)

    def _resolve(self) -> tuple[str, str]:
        value = str(self._provider.get(self.secret_arn, max_age=SECRET_MAX_AGE_SECONDS)).strip()
        url, kind = value, ""
        if value.startswith("{"):
            data = json.loads(value)
            url, kind = str(data["url"]), str(data.get("kind", ""))
        if not kind:
            kind = "teams" if "office" in (urlsplit(url).hostname or "") else "slack"
        return url, kind

    def send(self, text: str) -> bool:
        """True when the webhook accepted the alert. Failures are logged without the URL, never raised."""
        try:
            url, kind = self._resolve()
        except Exception as exc:  # a broken secret must not stop tagging or quarantine
            log.error("webhook secret unusable", extra={"error": type(exc).__name__})
            return False
        parts = urlsplit(url)
        local = parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            log.error("webhook URL is not https: refused", extra={"kind": kind})
            return False
        if kind == "slack":  # Slack reads <...> as links and mentions: '&', '<' and '>' must be escaped
            payload = {"text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}
        else:  # Teams reads the text as markdown: a key '[fix](https://evil.example)' would be a link
            payload = {"text": re.sub(r"([\\`*_\[\]<>])", r"\\\1", text).replace("\n", "  \n")}
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return 200 <= int(response.status) < 300
        except urllib.error.HTTPError as exc:
            log.error("webhook refused the alert", extra={"kind": kind, "status": exc.code})
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            log.error("webhook unreachable", extra={"kind": kind, "error": type(exc).__name__})
        return False


def publish_alert(sns: Any, topic_arn: str, event: ScanResultEvent, text: str) -> None:
    sns.publish(
        TopicArn=topic_arn,
        Subject=alert_subject(event),
        Message=text,
        MessageAttributes={"verdict": {"DataType": "String", "StringValue": event.verdict.value}},
    )
