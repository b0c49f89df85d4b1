"""EC2 collector: security groups with their ingress rules, and instances with the public IP they have."""

from __future__ import annotations

from typing import Any

from bucketguard.audit.reader import Call, Reader, tag_list
from bucketguard.rules.facts import Ec2InstanceFacts, IngressRule, SecurityGroupFacts

SECURITY_GROUPS = Call(
    "describe_security_groups", ("ec2_security_group_ssh_restricted", "ec2_security_group_rdp_restricted")
)
INSTANCES = Call("describe_instances", ("ec2_instance_public_ip_prohibited",))
CALLS = (SECURITY_GROUPS, INSTANCES)
GONE_STATES = frozenset({"terminated", "shutting-down"})


def _ingress(permission: dict[str, Any]) -> IngressRule:
    return IngressRule(
        str(permission.get("IpProtocol", "-1")).lower(),
        permission.get("FromPort"),
        permission.get("ToPort"),
        tuple(str(r["CidrIp"]) for r in permission.get("IpRanges", ())),
        tuple(str(r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", ())),
    )


def collect_ec2(reader: Reader) -> None:
    ec2 = reader.client("ec2")
    prefix = f"arn:aws:ec2:{reader.region}:{reader.account}"
    for group in reader.paginate(ec2, SECURITY_GROUPS, "SecurityGroups"):
        reader.collection.add(
            "security_groups",
            SecurityGroupFacts(
                name=str(group["GroupId"]),
                type="AWS::EC2::SecurityGroup",
                region=reader.region,
                ref=f"{prefix}:security-group/{group['GroupId']}",
                tags=tag_list(group.get("Tags")),
                ingress=tuple(_ingress(p) for p in group.get("IpPermissions", ())),
            ),
        )
    for reservation in reader.paginate(ec2, INSTANCES, "Reservations"):
        for instance in reservation.get("Instances", ()):
            if instance.get("State", {}).get("Name") in GONE_STATES:
                continue
            reader.collection.add(
                "ec2_instances",
                Ec2InstanceFacts(
                    name=str(instance["InstanceId"]),
                    type="AWS::EC2::Instance",
                    region=reader.region,
                    ref=f"{prefix}:instance/{instance['InstanceId']}",
                    tags=tag_list(instance.get("Tags")),
                    # Observed, not intended: the address the instance has now.
                    associate_public_ip_address=bool(instance.get("PublicIpAddress")),
                    subnet_id=instance.get("SubnetId"),
                ),
            )
