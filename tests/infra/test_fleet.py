"""Fleets: several scanners in one program, each storage admitted by exactly one (infra.fleet's rule)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infra.config import MAX_STORAGES_PER_SCANNER, ConfigError, parse_config
from infra.fleet import FleetFull, assign, continent
from tests.infra.conftest import run_program

ACCOUNTS = ("222222222222", "333333333333", "444444444444", "555555555555")
# 120 storages over 3 regions and 4 accounts: more than one scanner's region holds (eu-west-1: 60).
REGIONS = ("eu-west-1",) * 60 + ("us-east-1",) * 40 + ("ap-southeast-2",) * 20
FLEET = [
    {"name": "eu", "region": "eu-west-1", "roleArn": "arn:aws:iam::111111111111:role/deployer"},
    {"name": "eu2", "region": "eu-central-1", "roleArn": "arn:aws:iam::111111111111:role/deployer"},
    {"name": "us", "region": "us-east-1", "roleArn": "arn:aws:iam::111111111111:role/deployer"},
]


def fleet_storages(count: int) -> list[dict[str, Any]]:
    shuffled = random.Random(16).sample(REGIONS, len(REGIONS))
    regions = shuffled + ["eu-west-1"] * (count - len(shuffled))
    return [
        {
            "name": f"s{index}",
            "bucket": f"camp-fleet-{index}",
            "region": region,
            "roleArn": f"arn:aws:iam::{ACCOUNTS[index % 4]}:role/deployer",
            "actions": ["tag"],
        }
        for index, region in enumerate(regions[:count])
    ]


def fleet_config(count: int) -> dict[str, Any]:
    return {"scanners": FLEET, "storages": fleet_storages(count)}


# --- the rule, pure ----------------------------------------------------------------------------------


def test_region_then_continent_then_least_loaded() -> None:
    scanners = ["eu-west-1", "eu-central-1", "us-east-1"]
    placed = assign(
        scanners,
        [("eu-central-1", None), ("eu-north-1", None), ("eu-north-1", None), ("ap-south-1", None)],
        capacity=50,
    )
    assert [(p.scanner, p.why) for p in placed] == [
        (1, "region"),
        (0, "continent"),  # eu-west-1 holds none, eu-central-1 one: the least loaded
        (0, "continent"),  # both hold one: the first in config order
        (2, "least loaded"),  # no scanner in Asia Pacific: us-east-1 holds none
    ]
    assert continent("ca-central-1") == continent("us-west-2") != continent("sa-east-1")


def test_a_full_scanner_passes_its_region_to_the_next_tier() -> None:
    placed = assign(["eu-west-1", "us-east-1"], [("eu-west-1", None)] * 3, capacity=2)
    assert [(p.scanner, p.why) for p in placed] == [(0, "region"), (0, "region"), (1, "least loaded")]
    with pytest.raises(FleetFull) as full:
        assign(["eu-west-1"], [("eu-west-1", None)] * 3, capacity=2)
    assert full.value.index == 2 and not full.value.pinned


def test_adding_a_storage_never_moves_another() -> None:
    rng = random.Random(5)
    regions = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1", "sa-east-1"]
    scanners = ["eu-west-1", "us-west-2", "ap-south-1"]
    storages: list[tuple[str, int | None]] = []
    before = assign(scanners, storages, capacity=10)
    for _ in range(30):
        pinned = rng.choice([None, None, None, rng.randrange(3)])
        storages.append((rng.choice(regions), pinned))
        try:
            after = assign(scanners, storages, capacity=10)
        except FleetFull as full:
            assert full.index == len(storages) - 1  # only the new one can fail
            storages.pop()
            continue
        assert after[:-1] == before
        before = after


# --- the config --------------------------------------------------------------------------------------


def test_the_single_scanner_is_a_fleet_of_one() -> None:
    storages = fleet_storages(3)
    one = parse_config({"scanner": {**FLEET[0], "name": None}, "storages": storages})
    listed = parse_config({"scanners": [FLEET[0]], "storages": storages})
    assert one.fleet[0].label == "scanner" and listed.fleet[0].label == "eu"
    assert one.placements() == listed.placements()


def test_fleet_config_errors_are_one_line_naming_the_entry() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"scanners": FLEET, "storages": [{**fleet_storages(1)[0], "scanner": "mars"}]},
            r"^bucketguard:storages\[0\]\.scanner \(name 's0'\): 'mars' is not a scanner "
            r"\(known: eu, eu2, us\)$",
        ),
        (
            {"scanner": FLEET[0] | {"name": None}, "storages": [{**fleet_storages(1)[0], "scanner": "eu"}]},
            r"^bucketguard:storages\[0\]\.scanner .*'eu' is not a scanner \(this stack has no "
            r"bucketguard:scanners\)$",
        ),
        (
            {"scanners": [FLEET[0], {**FLEET[1], "name": "eu"}]},
            r"^bucketguard:scanners\[1\]\.name .*is already used by scanners\[0\]$",
        ),
        (
            {"scanners": [{**FLEET[0], "name": None}]},
            r"^bucketguard:scanners\[0\]\.name: is required",
        ),
        ({"scanner": FLEET[0] | {"name": None}, "scanners": FLEET}, r"^bucketguard:scanners: set either"),
        (
            {"scanners": FLEET, "storageStacks": ["o/p/s"]},
            r"^bucketguard:storageStacks: is for a stack with one scanner",
        ),
    ]
    for raw, message in cases:
        with pytest.raises(ConfigError, match=message) as error:
            parse_config(raw)
        assert "\n" not in str(error.value)


def test_explicit_assignments_over_fifty_fail_naming_the_first_one_over() -> None:
    storages = [{**s, "scanner": "us"} for s in fleet_storages(MAX_STORAGES_PER_SCANNER + 1)]
    assert len(parse_config({"scanners": FLEET, "storages": storages[:-1]}).storages) == 50
    with pytest.raises(
        ConfigError,
        match=r"^bucketguard:storages\[50\]\.scanner \(name 's50'\): scanner 'us' already admits 50 "
        r"storages \(the limit\)",
    ):
        parse_config({"scanners": FLEET, "storages": storages})
    # Automatic ones: three scanners take 150, the 151st is refused.
    parse_config(fleet_config(150))
    with pytest.raises(ConfigError, match=r"151 storages for 3 scanners \(at most 50\).*'s150'"):
        parse_config(fleet_config(151))


# --- the program under mocks -------------------------------------------------------------------------


class FleetGraph:
    def __init__(self, result: dict[str, Any]) -> None:
        assert result["error"] is None, result["error"]
        self.resources: list[dict[str, Any]] = result["resources"]
        self.log: list[str] = result["log"]
        self.by_name = {r["name"]: r for r in self.resources}

    def policy(self, name: str) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = json.loads(self.by_name[name]["inputs"]["policy"])["Statement"]
        return statements

    def queue_arn(self, scanner: str) -> str:
        queue = self.by_name[f"scanner-{scanner}-requests-queue"]
        return f"arn:aws:sqs:{queue['region']}:{queue['account']}:scanner-{scanner}-requests-queue-0a1b2c"

    def scanner_of(self, storage: str) -> str:
        """The scanner whose queue the storage's listener sends to (its environment and its IAM policy)."""
        variables = self.by_name[f"storage-{storage}-listener-function"]["inputs"]["environment"]["variables"]
        queue_url = variables["BUCKETGUARD_SCANNER_QUEUE_URL"]
        scanner = queue_url.rsplit("/", 1)[1].removeprefix("scanner-").removesuffix("-requests-queue-0a1b2c")
        sends = {s["Sid"]: s for s in self.policy(f"storage-{storage}-listener-policy")}["SendScanRequests"]
        assert sends["Resource"] == self.queue_arn(scanner)
        return scanner


@pytest.fixture(scope="module")
def fleet_graphs(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> list[FleetGraph]:
    graphs = []
    for count in (120, 121):  # then one more bucket
        config = {f"bucketguard:{key}": value for key, value in fleet_config(count).items()}
        tmp = tmp_path_factory.mktemp(f"fleet{count}")
        graphs.append(FleetGraph(run_program(config, lambda_artifacts, tmp, stack="fleet")))
    return graphs


@pytest.mark.slow
def test_120_storages_each_admitted_by_exactly_one_scanner(fleet_graphs: list[FleetGraph]) -> None:
    graph = fleet_graphs[0]
    storages = fleet_storages(120)
    assigned = {s["name"]: graph.scanner_of(s["name"]) for s in storages}
    loads = Counter(assigned.values())
    assert len(loads) >= 3 and max(loads.values()) <= MAX_STORAGES_PER_SCANNER
    # eu-west-1's 60: 50 in their region, 10 on their continent; us-east-1's 40 in theirs; ap-southeast-2's
    # 20 (no scanner on their continent) to the least loaded
    assert loads["eu"] == 50 and loads["eu2"] + loads["us"] == 70 and loads["us"] >= 40
    for s in storages:
        if s["region"] == "us-east-1":
            assert assigned[s["name"]] == "us"
        if s["region"] == "eu-west-1":
            assert assigned[s["name"]] in ("eu", "eu2")
    # printed at preview: one line per scanner, each storage with its scanner and why
    printed = {line.split("'")[1]: line for line in graph.log if line.startswith("bucketguard: scanner ")}
    assert set(printed) == {"eu", "eu2", "us"}
    for name, scanner in assigned.items():
        assert f" {name} (" in printed[scanner]
    assert printed["eu"].startswith("bucketguard: scanner 'eu' (eu-west-1) admits 50 of 50 storages: ")
    role = {
        r["name"]: f"arn:aws:iam::{r['account']}:role/{r['name']}-0a1b2c"
        for r in graph.resources
        if r["type"] == "aws:iam/role:Role"
    }
    for scanner in ("eu", "eu2", "us"):
        mine = sorted(name for name, chosen in assigned.items() if chosen == scanner)
        # the scanner's queue admits its own storages' listeners and no other
        (allowed,) = [s for s in graph.policy(f"admission-{scanner}-queue-policy") if s["Effect"] == "Allow"]
        assert allowed["Principal"]["AWS"] == sorted(role[f"storage-{n}-listener-role"] for n in mine)
        assert allowed["Resource"] == graph.queue_arn(scanner)
        # its key lets exactly those listeners encrypt requests
        keys = {s["Sid"]: s for s in graph.policy(f"admission-{scanner}-key-policy")}
        assert keys["RegisteredListenersEncryptRequests"]["Principal"]["AWS"] == allowed["Principal"]["AWS"]
        # its role publishes only to those storages' result topics
        publish = {s["Sid"]: s for s in graph.policy(f"admission-{scanner}-publish-results")}
        topics = publish["PublishToRegisteredResultTopics"]["Resource"]
        assert len(topics) == len(mine)
        assert {t.rsplit(":", 1)[1].removesuffix("-results-0a1b2c") for t in topics} == {
            f"storage-{n}" for n in mine
        }
        # and each of those topics accepts results from this scanner's role only
        for name in mine:
            results = [s for s in graph.policy(f"storage-{name}-results-policy") if s["Effect"] == "Allow"]
            assert [s["Principal"] for s in results] == [{"AWS": role[f"scanner-{scanner}-scanner-role"]}]
    # one rules bucket per scanner, globally unique names
    buckets = [r["inputs"]["bucket"] for r in graph.resources if r["name"].endswith("-rules-bucket")]
    assert len(buckets) == len(set(buckets)) == 3 and all(len(b) <= 63 for b in buckets)


@pytest.mark.slow
def test_one_more_bucket_moves_no_other(fleet_graphs: list[FleetGraph]) -> None:
    before, after = fleet_graphs
    storages = fleet_storages(121)
    assert all(before.scanner_of(s["name"]) == after.scanner_of(s["name"]) for s in storages[:120])
    assert after.scanner_of("s120") in {"eu", "eu2", "us"}
