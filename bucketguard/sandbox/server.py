"""moto's server in a process of its own: `python -m bucketguard.sandbox.server` prints its port on stdout
and serves on 127.0.0.1 until its stdin closes (the parent exited or stopped it).

A process of its own gives each embedded AWS an empty state and keeps the one change below away from
every other user of moto in the parent process.

moto stores bucket policies but does not evaluate their conditions: a statement for `Principal: "*"` with
any `Condition` (TLS only, `s3:ExistingObjectTag`, `aws:PrincipalArn`) answers "denied" to every request it
names, so the real bucket policies the program deploys would refuse every object read and write. Here a
conditional statement is not evaluated at all (it neither allows nor denies); unconditional statements are
enforced as moto enforces them. The policies are stored and returned unchanged.

moto 5.2.5 also fails (HTTP 500) to enable server access logging into a bucket whose policy has a statement
with `Principal: "*"` (it reads every principal as a mapping): those statements are skipped there.

Two fixes to moto's EventBridge, so that the monitor receives what EventBridge delivers: moto matches every
event put on a bus against a scheduled rule (it has no pattern: moto reads that as "match all") and raises
for its Lambda target, where in EventBridge a rule with a schedule receives no events; and the event moto
sends to a target lacks the envelope's `account`.
"""

from __future__ import annotations

import json
import logging
import sys
from types import SimpleNamespace
from typing import Any


def patch_bucket_policy_evaluation() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        evaluated = [s for s in statements if "Condition" not in s]
        return IAMPolicy(json.dumps({**document, "Statement": evaluated})).is_action_permitted(
            action, resource
        )

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]

    find_log_delivery = FakeBucket._log_permissions_enabled_policy

    def log_permissions(target_bucket: Any, target_prefix: str | None) -> bool:
        if target_bucket.policy is None:
            return bool(find_log_delivery(target_bucket, target_prefix))
        document = json.loads(target_bucket.policy)
        statements = [s for s in document.get("Statement", []) if isinstance(s.get("Principal"), dict)]
        mapped_principals_only = SimpleNamespace(
            policy=json.dumps({**document, "Statement": statements}).encode(),
            partition=target_bucket.partition,
            name=target_bucket.name,
        )
        return bool(find_log_delivery(mapped_principals_only, target_prefix))  # type: ignore[arg-type]

    FakeBucket._log_permissions_enabled_policy = staticmethod(log_permissions)  # type: ignore[method-assign]


def release_at_visibility_timeout_zero() -> None:
    """`ChangeMessageVisibility(VisibilityTimeout=0)` makes a message visible again at once, as in SQS.

    moto compares its millisecond clock with `>`, so a message released in the same millisecond stays
    hidden for one more: the runner releases failed messages this way and must find them at its next poll.
    """
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Message

    Message.visible = property(lambda self: unix_time_millis() >= self.visible_at)  # type: ignore[method-assign,assignment]


def deliver_events_as_eventbridge_does() -> None:
    from moto.events.models import Rule
    from moto.events.utils import EventTemplateParser

    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = (
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE.replace(
            '"version": "0",', '"version": "0", "account": "<account>",'
        )
    )

    send_to_targets = Rule.send_to_targets

    def send(self: Any, event: Any, transform_input: bool = True) -> None:
        if self.scheduled_expression is None:
            send_to_targets(self, event, transform_input)

    Rule.send_to_targets = send  # type: ignore[method-assign,assignment]


def main() -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patch_bucket_policy_evaluation()
    release_at_visibility_timeout_zero()
    deliver_events_as_eventbridge_does()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


if __name__ == "__main__":
    main()
