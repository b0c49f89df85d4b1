"""CloudTrail's part in the embedded AWS, played by hand: moto records no CloudTrail events, so a call made
through ``TrailedCalls`` is followed by the record CloudTrail writes for it (the documented field names and
request-parameter shapes, with the caller's real identity, the request id and user agent of the real call),
and ``deliver`` puts each record on its account's default event bus as EventBridge delivers CloudTrail
events (source ``aws.<service>``, detail-type ``AWS API Call via CloudTrail``).

In AWS only CloudTrail may put events with an ``aws.`` source; moto accepts them from anyone, which is what
lets the sandbox stand in for it. The rules on the bus (the monitor's) then match them with moto's own
event-pattern evaluation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bucketguard.monitor.events import DETAIL_TYPE
from bucketguard.sandbox.aws import AccountSession, EmbeddedAws


def signed_in_role(aws: EmbeddedAws, account: AccountSession, role_name: str, region: str) -> AccountSession:
    """A session of ``role_name`` in ``account`` (created when missing, trusted by the account, as a console
    sign-in role is), assumed through the embedded STS: who a person's calls come from."""
    iam = account.shared("iam")
    try:
        arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account.account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return aws.assume(arn, region)


@dataclass
class TrailedCalls:
    """Calls made as ``actor`` (an assumed role's session, as a child signed in to the console would be)
    in ``region``; ``records`` holds what CloudTrail would have logged for each, in order."""

    actor: AccountSession
    region: str
    records: list[dict[str, Any]] = field(default_factory=list)
    _identity: dict[str, str] = field(default_factory=dict)
    _user_agent: str = ""

    def _client(self, service: str) -> Any:
        client = self.actor.client(service, region_name=self.region)
        client.meta.events.register("before-send", self._remember_user_agent)
        return client

    def _remember_user_agent(self, request: Any, **_: Any) -> None:
        agent = request.headers.get("User-Agent", b"")
        self._user_agent = agent.decode() if isinstance(agent, bytes) else str(agent)

    def _record(
        self,
        source: str,
        name: str,
        response: Mapping[str, Any],
        request: dict[str, Any],
        elements: dict[str, Any] | None = None,
    ) -> None:
        if not self._identity:
            self._identity = self.actor.client("sts", region_name=self.region).get_caller_identity()
        self.records.append(
            cloudtrail_record(
                self._identity,
                source=source,
                name=name,
                region=self.region,
                request=request,
                response=elements,
                request_id=str(response.get("ResponseMetadata", {}).get("RequestId") or uuid.uuid4()),
                user_agent=self._user_agent,
            )
        )

    # --- the calls (each as its service logs it) ------------------------------------------------------

    def delete_bucket_public_access_block(self, bucket: str) -> None:
        response = self._client("s3").delete_public_access_block(Bucket=bucket)
        self._record(
            "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", response, _s3(bucket, publicAccessBlock="")
        )

    def put_bucket_policy(self, bucket: str, policy: Mapping[str, Any]) -> None:
        text = json.dumps(policy)
        response = self._client("s3").put_bucket_policy(Bucket=bucket, Policy=text)
        request = _s3(bucket, policy="", bucketPolicy=json.loads(text))
        self._record("s3.amazonaws.com", "PutBucketPolicy", response, request)

    def authorize_ingress(self, group_id: str, port: int, cidr: str) -> None:
        permission = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
        response = self._client("ec2").authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=[permission]
        )
        logged = {
            "ipProtocol": "tcp",
            "fromPort": port,
            "toPort": port,
            "groups": {},
            "ipRanges": {"items": [{"cidrIp": cidr}]},
            "ipv6Ranges": {},
            "prefixListIds": {},
        }
        rules = [
            {
                "groupOwnerId": rule.get("GroupOwnerId"),
                "groupId": rule.get("GroupId", group_id),
                "securityGroupRuleId": rule.get("SecurityGroupRuleId"),
                "isEgress": False,
                "ipProtocol": "tcp",
                "fromPort": port,
                "toPort": port,
                "cidrIpv4": cidr,
            }
            for rule in response.get("SecurityGroupRules", [])
        ]
        elements = {
            "requestId": response["ResponseMetadata"].get("RequestId"),
            "_return": bool(response.get("Return", True)),
            "securityGroupRuleSet": {"items": rules},
        }
        request = {"groupId": group_id, "ipPermissions": {"items": [logged]}}
        self._record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", response, request, elements)


def _s3(bucket: str, **more: Any) -> dict[str, Any]:
    return {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", **more}


def cloudtrail_record(
    identity: Mapping[str, str],
    *,
    source: str,
    name: str,
    region: str,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None,
    request_id: str,
    user_agent: str,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The record of one successful call by ``identity`` (``sts get-caller-identity``'s answer)."""
    account, arn = identity["Account"], identity["Arn"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    user_identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": identity["UserId"],
        "arn": arn,
        "accountId": account,
    }
    resource = arn.split(":", 5)[5]
    if resource.startswith("assumed-role/"):  # arn:aws:sts::A:assumed-role/ROLE/SESSION
        role = resource.split("/")[1]
        user_identity.update(
            type="AssumedRole",
            accessKeyId="ASIA" + uuid.uuid4().hex[:16].upper(),
            sessionContext={
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": identity["UserId"].split(":", 1)[0],
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": now, "mfaAuthenticated": "false"},
            },
        )
    return {
        "eventVersion": "1.09",
        "userIdentity": user_identity,
        "eventTime": now,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def deliver(account: AccountSession, records: Sequence[Mapping[str, Any]]) -> None:
    """Each record onto the default bus of its account (``account``: credentials there) and region, as
    EventBridge receives CloudTrail's events; raises when the bus refuses one."""
    for record in records:
        if record["recipientAccountId"] != account.account_id:
            raise ValueError(
                f"a record of account {record['recipientAccountId']} delivered in {account.account_id}"
            )
        events = account.client("events", region_name=record["awsRegion"])
        answer = events.put_events(
            Entries=[
                {
                    "Source": "aws." + record["eventSource"].split(".", 1)[0],
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(record),
                    "Time": datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                    "Resources": [],
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"the event bus refused {record['eventName']}: {answer['Entries'][0]}")
