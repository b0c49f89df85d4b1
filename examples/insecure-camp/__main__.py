"""The camp's teaching material, deployed the way an incident report starts. Each block is one mistake that
the bucketguard policy pack must stop (see tests/policy/test_examples.py for the exact rule ids)."""

import json

import pulumi
import pulumi_aws as aws

# 1. A public-read teaching bucket: anyone on the internet lists and downloads the material.
teaching = aws.s3.Bucket("teaching-material")
aws.s3.BucketOwnershipControls(
    "teaching-material-ownership",
    bucket=teaching.id,
    rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="ObjectWriter"),
)
aws.s3.BucketPublicAccessBlock(
    "teaching-material-bpa",
    bucket=teaching.id,
    block_public_acls=False,
    ignore_public_acls=False,
    block_public_policy=False,
    restrict_public_buckets=False,
)
aws.s3.BucketAcl("teaching-material-acl", bucket=teaching.id, acl="public-read")

# 2. The seed incident: a bucket policy letting anyone PutObject, so strangers rewrite the site's .js files.
# (Built from the bucket's name, which is known at preview, so `pulumi preview` already judges it; a
# document built from `teaching.arn` stays unknown until the bucket exists.)
aws.s3.BucketPolicy(
    "teaching-material-policy",
    bucket=teaching.id,
    policy=teaching.bucket.apply(
        lambda name: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AnyoneMayUpload",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": f"arn:aws:s3:::{name}/*",
                    }
                ],
            }
        )
    ),
)

# 3. RDP open to the world: the way in for ransomware.
aws.ec2.SecurityGroup(
    "camp-desktop",
    description="camp instructors' remote desktop",
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=3389, to_port=3389, cidr_blocks=["0.0.0.0/0"]
        )
    ],
)

# 4. AdministratorAccess attached to the role the camp's helper Lambda runs as.
helper_role = aws.iam.Role(
    "camp-helper-role",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
aws.iam.RolePolicyAttachment(
    "camp-helper-admin",
    role=helper_role.name,
    policy_arn="arn:aws:iam::aws:policy/AdministratorAccess",
)

# 5. A Lambda anyone can invoke.
helper = aws.lambda_.Function(
    "camp-helper",
    role=helper_role.arn,
    runtime="python3.12",
    handler="index.handler",
    code=pulumi.AssetArchive(
        {"index.py": pulumi.StringAsset("def handler(event, context):\n    return 'ok'\n")}
    ),
)
aws.lambda_.Permission(
    "camp-helper-public", action="lambda:InvokeFunction", function=helper.name, principal="*"
)

# 6. A bucket in a region the camp does not allow (its data must stay in eu-west-1).
far_away = aws.Provider("far-away", region="ap-southeast-2")
aws.s3.Bucket("holiday-photos", opts=pulumi.ResourceOptions(provider=far_away))

pulumi.export("teaching_bucket", teaching.bucket)
