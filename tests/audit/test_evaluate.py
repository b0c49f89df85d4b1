"""What a denied call blocks: the rules it feeds, on its resource, or for a denied listing in its region only
(every region for a global service). No AWS needed: facts and denials as the collectors make them."""

from __future__ import annotations

from bucketguard.audit.reader import Denial
from bucketguard.audit.run import ACCESS_DENIED_RULE, evaluate_account
from bucketguard.rules.facts import IngressRule, SecurityGroupFacts, StackFacts
from bucketguard.rules.model import RulesConfig

ACCOUNT = "123456789012"
RDP = "ec2_security_group_rdp_restricted"
OPEN_RDP = (IngressRule("tcp", 3389, 3389, ("0.0.0.0/0",)),)


def group(region: str) -> SecurityGroupFacts:
    return SecurityGroupFacts(
        name=f"sg-{region}",
        region=region,
        ref=f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/sg-{region}",
        ingress=OPEN_RDP,
    )


def listing_denied(region: str, *, account_wide: bool = False) -> Denial:
    return Denial(
        (RDP,), "ec2:DescribeSecurityGroups", ACCOUNT, region, f"account {ACCOUNT}", None, account_wide
    )


def judged(denials: list[Denial]) -> set[tuple[str, str]]:
    stack = StackFacts(security_groups=(group("us-east-1"), group("eu-west-1")))
    return {(f.rule_id, f.region) for f in evaluate_account(ACCOUNT, stack, denials, {RDP: RulesConfig()})}


def test_a_listing_denied_in_one_region_blocks_that_region_only() -> None:
    assert judged([listing_denied("eu-west-1")]) == {(RDP, "us-east-1"), (ACCESS_DENIED_RULE, "eu-west-1")}


def test_a_global_listing_denied_blocks_every_region() -> None:
    assert judged([listing_denied("us-east-1", account_wide=True)]) == {(ACCESS_DENIED_RULE, "us-east-1")}


def test_a_denied_read_blocks_its_resource_only() -> None:
    read = Denial(
        (RDP,), "ec2:DescribeSecurityGroups", ACCOUNT, "us-east-1", "sg-us-east-1", group("us-east-1").ref
    )
    assert judged([read]) == {(RDP, "eu-west-1"), (ACCESS_DENIED_RULE, "us-east-1")}
