"""CloudFormation -> the recorded stack the pack reads: the YAML loader's short forms and lines, static
resolution, values left unknown, conditions, suppressions, and files that are not templates."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from bucketguard.policy.records import RecordedResource
from bucketguard.templates import TEMPLATE_INPUT_TYPE, TemplateError
from bucketguard.templates.cloudformation import UNKNOWN_WIRE, load_template, record_templates
from bucketguard.templates.terraform import record_plans

FIXTURES = Path(__file__).parent / "fixtures"


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def by_name(paths: list[Path], **kwargs: Any) -> dict[str, RecordedResource]:
    stack = record_templates(paths, **kwargs)
    return {r.name: r for r in stack.recorded.resources}


def test_short_forms_become_their_long_forms_and_keys_keep_their_lines() -> None:
    template = load_template(FIXTURES / "insecure.yaml")
    assert template["Resources"].lines == {"Site": 8, "SitePolicy": 21, "Desktop": 32, "Helper": 41}
    assert template["Resources"]["Site"]["Properties"]["BucketName"] == {"Ref": "SiteName"}
    statement = template["Resources"]["SitePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Site}/*"}


def test_json_templates_read_through_the_same_loader() -> None:
    resources = by_name([FIXTURES / "secure.json"])
    assert resources["Site"].source_line == 21
    assert resources["SitePolicy"].inputs["policy"]["Statement"][0]["Resource"] == [
        "arn:aws:s3:::camp-site",
        "arn:aws:s3:::camp-site/*",
    ]
    # A key the template creates: its ARN is known only once created, and the join names the key.
    sse = resources["Site.BucketEncryption"]
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == UNKNOWN_WIRE
    assert sse.property_dependencies["rules"] == [resources["Key"].urn]


def test_the_insecure_template_resolves_to_what_the_camp_wrote() -> None:
    resources = by_name([FIXTURES / "insecure.yaml"])
    assert resources["Site"].inputs["bucket"] == "camp-site"  # the parameter's Default
    assert resources["Site.AccessControl"].inputs["acl"] == "public-read"
    assert resources["SitePolicy"].inputs["policy"]["Statement"][0]["Resource"] == "arn:aws:s3:::camp-site/*"
    assert resources["Helper"].inputs["managedPolicyArns"] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert resources["Desktop"].inputs["ingress"][0]["cidrBlocks"] == ["0.0.0.0/0"]


def test_parameters_mappings_conditions_and_what_stays_unknown() -> None:
    resources = by_name([FIXTURES / "conditional.yaml"], region="eu-west-1")
    site = resources["Site"]
    assert site.inputs["bucket"] == "camp-eu-west-1-site"  # !Join with the AWS::Region pseudo-parameter
    acl = resources["Site.AccessControl"]
    assert acl.inputs["acl"] == UNKNOWN_WIRE  # SiteAcl has no Default and no --parameter
    assert [resources[u.rsplit("::", 1)[1]].type for u in acl.property_dependencies["acl"]] == [
        TEMPLATE_INPUT_TYPE
    ]
    assert acl.property_dependencies["acl"][0].endswith("::parameter SiteAcl")
    # An SSM parameter's Default names the SSM parameter, not its value.
    assert resources["Site.LoggingConfiguration"].inputs["targetBucket"] == UNKNOWN_WIRE
    # !If on a condition decided without Env (And with a known False), !Select over a CommaDelimitedList.
    assert resources["Shared.VersioningConfiguration"].inputs["versioningConfiguration"] == {
        "status": "Suspended"
    }
    assert resources["Ssh"].inputs["fromPort"] == "3389"
    assert resources["Ssh"].inputs["cidrIpv4"] == UNKNOWN_WIRE  # !ImportValue
    assert "Never" not in resources  # its condition is false

    given = by_name([FIXTURES / "conditional.yaml"], parameters={"Env": "prod", "SiteAcl": "PublicReadWrite"})
    assert given["Site.AccessControl"].inputs["acl"] == "public-read-write"
    assert given["Site.VersioningConfiguration"].inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert given["Site"].inputs["bucket"] == UNKNOWN_WIRE  # no --region: AWS::Region is unknown


def test_an_unknown_condition_keeps_its_resource(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        Parameters: {Open: {Type: String}}
        Conditions: {IsOpen: !Equals [!Ref Open, "yes"]}
        Resources:
          Rdp:
            Type: AWS::EC2::SecurityGroupIngress
            Condition: IsOpen
            Properties:
              {IpProtocol: tcp, FromPort: 3389, ToPort: 3389, CidrIp: !If [IsOpen, 0.0.0.0/0, 10.0.0.0/8]}
        """,
    )
    resources = by_name([path])
    assert resources["Rdp"].inputs["cidrIpv4"] == UNKNOWN_WIRE
    assert resources["Rdp"].property_dependencies["cidrIpv4"][0].endswith("::parameter Open")


def test_suppressions_need_a_rule_and_a_reason(tmp_path: Path) -> None:
    stack = record_templates([FIXTURES / "conditional.yaml"])
    (skip,) = stack.suppressions
    assert (skip.rule_id, skip.reason) == (
        "s3_bucket_versioning_enabled",
        "shared scratch space, emptied nightly",
    )
    assert skip.resource_urns[0].endswith("aws:s3/bucket:Bucket::Shared")
    path = write(
        tmp_path,
        """
        Resources:
          B:
            Type: AWS::S3::Bucket
            Metadata: {bucketguard: {skip: [{rule: s3_bucket_versioning_enabled}]}}
        """,
    )
    with pytest.raises(
        TemplateError, match=r"t\.yaml:3: B\.Metadata\.bucketguard\.skip\[0\]: reason is required"
    ):
        record_templates([path])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just: [a, list\n", r"t\.yaml:2: not a CloudFormation template: "),
        ("- a\n- b\n", r"t\.yaml: not a CloudFormation template: no Resources mapping"),
        (
            "Resources:\n  A: {Properties: {}}\n",
            r"t\.yaml:2: not a CloudFormation template: resource A has no Type",
        ),
        (
            "Resources:\n  A: {Type: AWS::S3::Bucket, Properties: {BucketName: !Ref Missing}}\n",
            r"t\.yaml:2: A: cannot evaluate Missing",
        ),
    ],
)
def test_a_file_that_is_not_a_template_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as raised:
        record_templates([write(tmp_path, text)])
    assert "\n" not in str(raised.value)


def test_several_templates_are_one_stack_with_distinct_urns() -> None:
    stack = record_templates([FIXTURES / "insecure.yaml", FIXTURES / "secure.json"])
    urns = [r.urn for r in stack.recorded.resources]
    assert len(urns) == len(set(urns))
    sites = [r for r in stack.recorded.resources if r.name == "Site"]
    assert {Path(r.source_file).name: r.source_line for r in sites} == {"insecure.yaml": 8, "secure.json": 21}


def test_a_plan_keeps_configured_unknowns_and_joins_them_by_reference() -> None:
    stack = record_plans([FIXTURES / "insecure.tfplan.json"])
    resources = {r.name: r for r in stack.recorded.resources}
    acl = resources["aws_s3_bucket_acl.site"]
    assert acl.inputs["bucket"] == UNKNOWN_WIRE  # the bucket's id, known after apply
    assert acl.property_dependencies["bucket"] == [resources["aws_s3_bucket.site"].urn]
    assert resources["aws_s3_bucket_ownership_controls.site"].inputs["rule"] == {
        "objectOwnership": "ObjectWriter"
    }
    # Computed by the provider, not configured: the setting is AWS's default, not an unknown.
    assert "managedPolicyArns" not in resources["aws_iam_role.helper"].inputs
    assert "region" not in resources["aws_s3_bucket.site"].inputs


def test_a_resource_that_becomes_several_of_one_type_gets_distinct_urns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        Resources:
          A: {Type: AWS::SQS::Queue, Properties: {QueueName: a}}
          B: {Type: AWS::SQS::Queue, Properties: {QueueName: b}}
          Open:
            Type: AWS::SQS::QueuePolicy
            Properties:
              Queues: [!Ref A, !Ref B]
              PolicyDocument: {Statement: [{Effect: Allow, Principal: "*", Action: "sqs:*", Resource: "*"}]}
        """,
    )
    policies = [r for r in record_templates([path]).recorded.resources if r.name == "Open"]
    assert [p.inputs["queueUrl"] for p in policies] == ["a", "b"]
    assert len({p.urn for p in policies}) == 2


def test_a_plans_acl_grants_reach_the_pack_in_pulumis_shape() -> None:
    from bucketguard.templates.terraform import _translate

    grant = {"grantee": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}],
             "permission": "READ"}  # fmt: skip
    props = _translate(
        "aws_s3_bucket_acl", {"access_control_policy": [{"grant": [grant], "owner": [{"id": "o"}]}]}, None
    )
    assert props["accessControlPolicy"] == {
        "grants": [{"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
                    "permission": "READ"}],
        "owner": {"id": "o"},
    }  # fmt: skip


def nested_stack(name: str, url: str, more: str = "") -> str:
    properties = ", ".join(p for p in (f"TemplateURL: {url}", more) if p)
    return f"Resources:\n  {name}: {{Type: AWS::CloudFormation::Stack, Properties: {{{properties}}}}}\n"


def test_nested_stacks_pass_parameters_and_cycles_and_depth_are_capped(tmp_path: Path) -> None:
    resources = by_name([FIXTURES / "nested" / "parent.yaml"], region="eu-west-1")
    assert resources["Storage.Site"].inputs["bucket"] == "camp-nested-site"
    assert resources["Storage.Site.AccessControl"].inputs["acl"] == "public-read"  # the parent's default
    # The parent's policy reads the nested output: a known name, so the pack joins it by name.
    assert resources["UploadsFromAnyone"].inputs["bucket"] == "camp-nested-site"
    # A parameter the parent cannot fix stays unknown in the child, naming the parent's parameter.
    write(tmp_path, "Resources:\n  B: {Type: AWS::S3::Bucket, Properties: {AccessControl: !Ref Acl}}\n"
          "Parameters: {Acl: {Type: String}}\n", "child.yaml")  # fmt: skip
    parent = write(
        tmp_path,
        """
        Parameters: {Acl: {Type: String}}
        Resources:
          Child:
            Type: AWS::CloudFormation::Stack
            Properties: {TemplateURL: child.yaml, Parameters: {Acl: !Ref Acl}}
        """,
    )
    stack = record_templates([parent])
    (acl,) = [r for r in stack.recorded.resources if r.name == "Child.B.AccessControl"]
    assert acl.inputs["acl"] == UNKNOWN_WIRE
    assert acl.property_dependencies["acl"] == [
        f"urn:pulumi:template::cloudformation::{TEMPLATE_INPUT_TYPE}::parameter Acl"
    ]

    write(
        tmp_path,
        nested_stack("Back", "a.yaml"),
        "b.yaml",
    )
    looping = write(
        tmp_path,
        nested_stack("On", "b.yaml"),
        "a.yaml",
    )
    with pytest.raises(TemplateError, match=r"b\.yaml:2: Back: nested stack .*a\.yaml includes itself"):
        record_templates([looping])

    for level in range(8):
        write(tmp_path, nested_stack("Down", f"l{level + 1}.yaml") + "  Here: {Type: AWS::SQS::Queue}\n",
              f"l{level}.yaml")  # fmt: skip
    stack = record_templates([tmp_path / "l0.yaml"])
    queues = {r.name for r in stack.recorded.resources if r.type == "aws:sqs/queue:Queue"}
    assert queues == {".".join(["Down"] * depth + ["Here"]) for depth in range(6)}
    (deep,) = stack.not_evaluated
    assert deep.reason == "nested deeper than 5 levels: not read"

    missing = write(
        tmp_path,
        nested_stack("Gone", "./nope.yaml"),
        "m.yaml",
    )
    with pytest.raises(TemplateError, match=r"m\.yaml:2: Gone: nested template .*nope\.yaml does not exist"):
        record_templates([missing])
    wrong = write(
        tmp_path,
        nested_stack("C", "child.yaml", "Parameters: {Typo: x}"),
        "w.yaml",
    )
    with pytest.raises(
        TemplateError, match=r"w\.yaml:2: C\.Parameters: .*child\.yaml declares no parameter Typo"
    ):
        record_templates([wrong])


def test_sam_expands_to_what_the_transform_deploys() -> None:
    resources = by_name([FIXTURES / "sam.yaml"], region="eu-west-1")
    role = resources["ReportRole"]
    assert role.inputs["managedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ]
    assert resources["Report"].property_dependencies["role"] == [role.urn]  # joined to its implicit role
    assert resources["ReportUrl"].inputs["authorizationType"] == "NONE"  # from Globals
    assert resources["ReportUrlPublicPermissions"].inputs["principal"] == "*"
    assert "TidyUrlPublicPermissions" not in resources  # AWS_IAM: SAM adds no public permission
    assert resources["ReportUploadPermission"].inputs["principal"] == "s3.amazonaws.com"
    assert resources["ReportAlertsPermission"].inputs["sourceArn"] == UNKNOWN_WIRE  # the topic's ARN
    assert resources["ReportAlertsPermission"].property_dependencies["sourceArn"] == [
        resources["AlertTopic"].urn
    ]
    assert resources["TidyNightlyPermission"].inputs["principal"] == "events.amazonaws.com"
    (statement,) = resources["TidyRole"].inputs["inlinePolicies"][0]["policy"]["Statement"]
    assert statement["Resource"] == "arn:aws:s3:::camp-site/tmp/*"
    assert resources["Report"].inputs["tags"] == {"team": "camp", "lambda:createdBy": "SAM"}
