"""EC2 rules: remote administration ports open to the internet, instances with public IPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from bucketguard.rules.facts import Ec2InstanceFacts, IngressRule, SecurityGroupFacts
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule

ALL_PROTOCOLS = ("-1", "all")


def opens_port_to_internet(ingress: IngressRule, port: int) -> list[str]:
    if ingress.protocol.lower() not in (*ALL_PROTOCOLS, "tcp", "6"):
        return []
    if ingress.protocol.lower() not in ALL_PROTOCOLS:
        low = 0 if ingress.from_port in (None, -1) else ingress.from_port
        high = 65535 if ingress.to_port in (None, -1) else ingress.to_port
        if not (low is not None and high is not None and low <= port <= high):
            return []
    return [cidr for cidr in (*ingress.cidr_ipv4, *ingress.cidr_ipv6) if _is_anywhere(cidr)]


def _is_anywhere(cidr: str) -> bool:
    """0.0.0.0/0 and ::/0 in any spelling (``::0/0``, ``0:0:0:0:0:0:0:0/0``)."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _internet_ingress(group: SecurityGroupFacts, port: int, service: str) -> Iterator[str]:
    """One message per ingress rule that opens a remote administration port to the whole internet."""
    for ingress in group.ingress:
        for cidr in opens_port_to_internet(ingress, port):
            yield f"ingress from {cidr} reaches {service} (port {port}, rule {ingress.protocol} " + (
                f"{ingress.from_port}-{ingress.to_port})"
            )


def _restricted_ingress_snippet(port: int) -> str:
    return f"""\
import pulumi_aws as aws

aws.ec2.SecurityGroup(
    "admin",
    description="Remote administration from the office only",
    ingress=[
        {{"protocol": "tcp", "from_port": {port}, "to_port": {port}, "cidr_blocks": ["203.0.113.0/24"]}}
    ],
)
"""


@rule(
    "ec2_security_group_ssh_restricted",
    SecurityGroupFacts,
    Severity.HIGH,
    title="Security groups do not open SSH (22) to the internet",
    risk=(
        "SSH open to 0.0.0.0/0 or ::/0 invites brute force and exploitation from the whole internet. "
        "Use Session Manager or a fixed source range instead."
    ),
    remediation=Remediation(
        summary="Remove the 0.0.0.0/0 and ::/0 ingress on port 22; use SSM Session Manager or a fixed CIDR.",
        pulumi=_restricted_ingress_snippet(22),
        console="EC2 > Security Groups > group > Inbound rules > Edit: delete the internet-wide SSH rules.",
        cli="aws ec2 revoke-security-group-ingress --group-id SG --protocol tcp --port 22 --cidr 0.0.0.0/0",
    ),
    references=References(
        fsbp=("EC2.13",),
        cis=("5.2", "5.3"),
        checkov=("CKV_AWS_24",),
        prowler=("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",),
    ),
    notes="TCP or all-protocol ingress whose port range includes 22 from 0.0.0.0/0 or ::/0 fails.",
)
def ec2_security_group_ssh_restricted(group: SecurityGroupFacts, config: RulesConfig) -> Iterator[str]:
    yield from _internet_ingress(group, 22, "SSH")


@rule(
    "ec2_security_group_rdp_restricted",
    SecurityGroupFacts,
    Severity.HIGH,
    title="Security groups do not open RDP (3389) to the internet",
    risk=(
        "RDP open to the internet is the most common way ransomware operators get in. One weak password "
        "on an exposed Windows host is enough to encrypt everything it can reach."
    ),
    remediation=Remediation(
        summary="Remove the 0.0.0.0/0 and ::/0 ingress on port 3389; use Fleet Manager or a fixed CIDR.",
        pulumi=_restricted_ingress_snippet(3389),
        console="EC2 > Security Groups > group > Inbound rules > Edit: delete the internet-wide RDP rules.",
        cli="aws ec2 revoke-security-group-ingress --group-id SG --protocol tcp --port 3389 --cidr 0.0.0.0/0",
    ),
    references=References(
        fsbp=("EC2.14",),
        cis=("5.2", "5.3"),
        checkov=("CKV_AWS_25",),
        prowler=("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389",),
    ),
    notes="TCP or all-protocol ingress whose port range includes 3389 from 0.0.0.0/0 or ::/0 fails.",
)
def ec2_security_group_rdp_restricted(group: SecurityGroupFacts, config: RulesConfig) -> Iterator[str]:
    yield from _internet_ingress(group, 3389, "RDP")


@rule(
    "ec2_instance_public_ip_prohibited",
    Ec2InstanceFacts,
    Severity.HIGH,
    title="EC2 instances do not have public IP addresses",
    risk=(
        "An instance with a public IP is reachable from the internet whenever a security group slips. "
        "Keep instances in private subnets and reach them through load balancers or Session Manager."
    ),
    remediation=Remediation(
        summary="Launch in a private subnet with associate_public_ip_address=False.",
        pulumi="""\
import pulumi_aws as aws

aws.ec2.Instance(
    "worker",
    ami="ami-0123456789abcdef0",
    instance_type="t3.micro",
    subnet_id="subnet-private",
    associate_public_ip_address=False,
)
""",
        console="EC2 > Launch instance > Network settings: private subnet, Auto-assign public IP Disable.",
        cli="aws ec2 modify-subnet-attribute --subnet-id SUBNET --no-map-public-ip-on-launch",
    ),
    references=References(
        fsbp=("EC2.9",),
        checkov=("CKV_AWS_88",),
        prowler=("ec2_instance_public_ip",),
    ),
    notes="associate_public_ip_address True fails. Not set: fails in the default VPC (no subnet_id) and in "
    "a subnet the adapter knows maps public IPs; an unknown subnet passes (AWS default for new subnets: no "
    "public IP).",
)
def ec2_instance_public_ip_prohibited(instance: Ec2InstanceFacts, config: RulesConfig) -> Iterator[str]:
    if instance.associate_public_ip_address is True:
        yield "the instance is given a public IP address (associate_public_ip_address=True)"
    elif instance.associate_public_ip_address is None:
        if instance.subnet_id is None:
            yield "the instance launches in the default VPC, whose subnets give every instance a public IP"
        elif instance.subnet_maps_public_ip_on_launch:
            yield "the instance's subnet maps a public IP on launch"
