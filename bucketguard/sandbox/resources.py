"""One function per Pulumi resource type the program uses: creates the resource in the embedded AWS through
boto3 and returns the outputs the provider would (ids, ARNs, URLs), so dependent resources get real values.

Inputs arrive with the provider schema's camelCase names (numbers as floats); each function translates the
ones it knows to the AWS API's names. An input a function does not translate is an error naming it (a
property the program sets must reach AWS, or the sandbox would deploy something else than `pulumi up`), and
botocore validates every request against the real API model.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.rules.facts import ROLE_TAG
from bucketguard.sandbox.aws import AccountSession


class DeployError(RuntimeError):
    """A resource the embedded AWS could not create; the message names the resource."""


@dataclass
class Place:
    """An account and region the program deploys into (one per provider), with the provider's default tags."""

    session: AccountSession
    region: str
    default_tags: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)
    _code: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.session.account_id

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)
        return self._clients[service]

    def code_location(self, archive_path: str) -> dict[str, str]:
        """The Lambda code, uploaded once per account and region to a bucket of the sandbox's own.

        The provider sends the zip inline; moto takes ~5 s per function to parse a 38 MB inline zip and
        ~0.3 s to read it from its own S3, so every function of a place shares one upload.
        """
        if archive_path not in self._code:
            data = code_zip(archive_path)
            bucket, key = code_object(self.account, self.region, hashlib.sha256(data).hexdigest())
            s3 = self.client("s3")
            location = {} if self.region == "us-east-1" else {"LocationConstraint": self.region}
            # A stack deployed before this one into the same account and region may have made it.
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                s3.create_bucket(
                    Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {})
                )
                _guard_code_bucket(s3, bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            self._code[archive_path] = {"S3Bucket": bucket, "S3Key": key}
        return self._code[archive_path]


def _guard_code_bucket(s3: Any, bucket: str) -> None:
    """The sandbox's stand-in for Pulumi's code upload is audited with the account it deploys into (the
    demo's audit act): private, ACLs off, versioned and tagged as the platform's own, like the buckets infra/
    creates. (No TLS-only policy: moto enforces it against the sandbox's plain-HTTP uploads.)"""
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(flags, True))
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": ROLE_TAG, "Value": "internal"}]})


def code_object(account: str, region: str, sha256_hex: str) -> tuple[str, str]:
    """Where the deployer uploads a Lambda zip (bucket, key); the runner reads the deployed code there."""
    return f"bucketguard-sandbox-code-{account}-{region}", f"{sha256_hex}.zip"


class Inputs:
    """A resource's inputs; remembers which were read so that the rest can be refused."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = dict(raw)
        self._read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        value = self._raw.get(key)
        return default if value is None else value

    def integer(self, key: str) -> int | None:
        value = self.get(key)
        return None if value is None else int(value)

    def ignore(self, *keys: str) -> None:
        """Inputs that change nothing at creation (deletion settings, provider bookkeeping)."""
        self._read.update(keys)

    def unread(self) -> list[str]:
        return sorted(k for k, v in self._raw.items() if k not in self._read and v not in (None, [], {}))


@dataclass(frozen=True)
class Created:
    id: str
    outputs: dict[str, Any]


Creator = Callable[[Place, str, Inputs], Created]


def physical_name(name: str, max_length: int = 64) -> str:
    """An auto-name as the provider makes one (logical name + 7 hex), stable across runs."""
    suffix = hashlib.sha256(name.encode()).hexdigest()[:7]
    return f"{name[: max_length - 8]}-{suffix}"


def _tags(place: Place, inputs: Inputs) -> dict[str, str]:
    return {**place.default_tags, **inputs.get("tags", {})}


def _tag_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in tags.items()]


def _params(**values: Any) -> dict[str, Any]:
    """API parameters without the ones the program left unset."""
    return {k: v for k, v in values.items() if v is not None}


# --- S3 ---------------------------------------------------------------------------------------------


def s3_bucket(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket") or physical_name(name, 63).lower()
    inputs.ignore("forceDestroy")
    s3 = place.client("s3")
    location = {} if place.region == "us-east-1" else {"LocationConstraint": place.region}
    s3.create_bucket(
        **_params(
            Bucket=bucket,
            CreateBucketConfiguration=location or None,
            ObjectLockEnabledForBucket=inputs.get("objectLockEnabled"),
        )
    )
    tags = _tags(place, inputs)
    if tags:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tag_list(tags)})
    return Created(
        bucket,
        {
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{place.region}.amazonaws.com",
            "region": place.region,
            "tagsAll": tags,
        },
    )


def s3_bucket_policy(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket")
    place.client("s3").put_bucket_policy(Bucket=bucket, Policy=inputs.get("policy"))
    return Created(bucket, {})


def s3_bucket_public_access_block(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket")
    place.client("s3").put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=_block(inputs))
    return Created(bucket, {})


def s3_account_public_access_block(place: Place, name: str, inputs: Inputs) -> Created:
    account = inputs.get("accountId") or place.account
    place.client("s3control").put_public_access_block(
        AccountId=account, PublicAccessBlockConfiguration=_block(inputs)
    )
    return Created(account, {"accountId": account})


def _block(inputs: Inputs) -> dict[str, bool]:
    return {
        "BlockPublicAcls": bool(inputs.get("blockPublicAcls", False)),
        "IgnorePublicAcls": bool(inputs.get("ignorePublicAcls", False)),
        "BlockPublicPolicy": bool(inputs.get("blockPublicPolicy", False)),
        "RestrictPublicBuckets": bool(inputs.get("restrictPublicBuckets", False)),
    }


def s3_bucket_ownership_controls(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket")
    rule = inputs.get("rule", {})
    place.client("s3").put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": rule.get("objectOwnership")}]}
    )
    return Created(bucket, {})


def s3_bucket_encryption(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket")
    rules = []
    for rule in inputs.get("rules", []):
        default = rule.get("applyServerSideEncryptionByDefault", {})
        rules.append(
            _params(
                ApplyServerSideEncryptionByDefault=_params(
                    SSEAlgorithm=default.get("sseAlgorithm"), KMSMasterKeyID=default.get("kmsMasterKeyId")
                ),
                BucketKeyEnabled=rule.get("bucketKeyEnabled"),
            )
        )
    place.client("s3").put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules}
    )
    return Created(bucket, {})


def s3_bucket_versioning(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket")
    configuration = inputs.get("versioningConfiguration", {})
    place.client("s3").put_bucket_versioning(
        Bucket=bucket,
        VersioningConfiguration=_params(
            Status=configuration.get("status"), MFADelete=configuration.get("mfaDelete")
        ),
    )
    return Created(bucket, {})


def s3_bucket_logging(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket")
    place.client("s3").put_bucket_logging(
        Bucket=bucket,
        BucketLoggingStatus={
            "LoggingEnabled": {
                "TargetBucket": inputs.get("targetBucket"),
                "TargetPrefix": inputs.get("targetPrefix", ""),
            }
        },
    )
    return Created(bucket, {})


def s3_bucket_notification(place: Place, name: str, inputs: Inputs) -> Created:
    bucket = inputs.get("bucket")

    def destination(entry: Mapping[str, Any], arn_key: str, api_key: str) -> dict[str, Any]:
        rules = [
            {"Name": rule, "Value": entry[f"filter{rule.capitalize()}"]}
            for rule in ("prefix", "suffix")
            if entry.get(f"filter{rule.capitalize()}")
        ]
        return _params(
            Id=entry.get("id"),
            Events=entry["events"],
            Filter={"Key": {"FilterRules": rules}} if rules else None,
            **{api_key: entry[arn_key]},
        )

    configuration = _params(
        QueueConfigurations=[destination(q, "queueArn", "QueueArn") for q in inputs.get("queues", [])]
        or None,
        TopicConfigurations=[destination(t, "topicArn", "TopicArn") for t in inputs.get("topics", [])]
        or None,
        LambdaFunctionConfigurations=[
            destination(f, "lambdaFunctionArn", "LambdaFunctionArn")
            for f in inputs.get("lambdaFunctions", [])
        ]
        or None,
        EventBridgeConfiguration={} if inputs.get("eventbridge") else None,
    )
    place.client("s3").put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=configuration
    )
    return Created(bucket, {})


# --- KMS --------------------------------------------------------------------------------------------


def kms_key(place: Place, name: str, inputs: Inputs) -> Created:
    inputs.ignore("deletionWindowInDays")  # applies when the key is scheduled for deletion
    kms = place.client("kms")
    metadata = kms.create_key(
        **_params(
            Description=inputs.get("description"),
            Policy=inputs.get("policy"),
            KeyUsage=inputs.get("keyUsage"),
            KeySpec=inputs.get("customerMasterKeySpec"),
            MultiRegion=inputs.get("multiRegion"),
            Tags=_tag_list(_tags(place, inputs), "TagKey", "TagValue"),
        )
    )["KeyMetadata"]
    key_id = metadata["KeyId"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(
            **_params(KeyId=key_id, RotationPeriodInDays=inputs.integer("rotationPeriodInDays"))
        )
    return Created(key_id, {"arn": metadata["Arn"], "keyId": key_id})


def kms_key_policy(place: Place, name: str, inputs: Inputs) -> Created:
    key_id = inputs.get("keyId")
    inputs.ignore("bypassPolicyLockoutSafetyCheck")
    place.client("kms").put_key_policy(KeyId=key_id, PolicyName="default", Policy=inputs.get("policy"))
    return Created(key_id, {})


# --- SQS --------------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = {
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "policy": "Policy",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sqs_queue(place: Place, name: str, inputs: Inputs) -> Created:
    fifo = bool(inputs.get("fifoQueue"))
    queue_name = inputs.get("name") or physical_name(name, 75) + (".fifo" if fifo else "")
    attributes = {
        api: _attribute(inputs.get(key))
        for key, api in _QUEUE_ATTRIBUTES.items()
        if inputs.get(key) is not None
    }
    sqs = place.client("sqs")
    url = sqs.create_queue(QueueName=queue_name, Attributes=attributes, tags=_tags(place, inputs))["QueueUrl"]
    arn = f"arn:aws:sqs:{place.region}:{place.account}:{queue_name}"
    return Created(url, {"arn": arn, "url": url, "name": queue_name})


def sqs_queue_policy(place: Place, name: str, inputs: Inputs) -> Created:
    url = inputs.get("queueUrl")
    place.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": inputs.get("policy")})
    return Created(url, {})


# --- SNS --------------------------------------------------------------------------------------------


def sns_topic(place: Place, name: str, inputs: Inputs) -> Created:
    fifo = bool(inputs.get("fifoTopic"))
    topic_name = inputs.get("name") or physical_name(name, 250) + (".fifo" if fifo else "")
    attributes = {
        api: _attribute(inputs.get(key))
        for key, api in {
            "kmsMasterKeyId": "KmsMasterKeyId",
            "displayName": "DisplayName",
            "policy": "Policy",
            "fifoTopic": "FifoTopic",
            "contentBasedDeduplication": "ContentBasedDeduplication",
        }.items()
        if inputs.get(key) is not None
    }
    arn = place.client("sns").create_topic(
        Name=topic_name, Attributes=attributes, Tags=_tag_list(_tags(place, inputs))
    )["TopicArn"]
    return Created(arn, {"arn": arn, "name": topic_name})


def sns_topic_policy(place: Place, name: str, inputs: Inputs) -> Created:
    arn = inputs.get("arn")
    place.client("sns").set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=inputs.get("policy")
    )
    return Created(arn, {})


def sns_topic_subscription(place: Place, name: str, inputs: Inputs) -> Created:
    attributes = _params(
        RawMessageDelivery="true" if inputs.get("rawMessageDelivery") else None,
        FilterPolicy=inputs.get("filterPolicy"),
        RedrivePolicy=inputs.get("redrivePolicy"),
    )
    # A resource's own `region` (pulumi-aws v7): a subscription is made in its topic's region.
    region = inputs.get("region")
    sns = place.session.client("sns", region_name=region) if region else place.client("sns")
    arn = sns.subscribe(
        TopicArn=inputs.get("topic"),
        Protocol=inputs.get("protocol"),
        Endpoint=inputs.get("endpoint"),
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return Created(arn, {"arn": arn})


# --- IAM --------------------------------------------------------------------------------------------


def iam_role(place: Place, name: str, inputs: Inputs) -> Created:
    role_name = inputs.get("name") or physical_name(name)
    role = place.client("iam").create_role(
        **_params(
            RoleName=role_name,
            Path=inputs.get("path"),
            AssumeRolePolicyDocument=inputs.get("assumeRolePolicy"),
            Description=inputs.get("description"),
            MaxSessionDuration=inputs.integer("maxSessionDuration"),
            PermissionsBoundary=inputs.get("permissionsBoundary"),
            Tags=_tag_list(_tags(place, inputs)),
        )
    )["Role"]
    return Created(role_name, {"arn": role["Arn"], "name": role_name, "uniqueId": role["RoleId"]})


def iam_role_policy(place: Place, name: str, inputs: Inputs) -> Created:
    role, policy_name = inputs.get("role"), inputs.get("name") or physical_name(name, 128)
    place.client("iam").put_role_policy(
        RoleName=role, PolicyName=policy_name, PolicyDocument=inputs.get("policy")
    )
    return Created(f"{role}:{policy_name}", {"name": policy_name})


# --- Lambda -----------------------------------------------------------------------------------------


def code_zip(archive_path: str) -> bytes:
    """The archive directory zipped once (deterministic: sorted, fixed timestamps), cached beside it."""
    root = Path(archive_path)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    cached = root.parent / f".sandbox-code-{digest.hexdigest()[:16]}.zip"
    if not cached.is_file():
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in files:
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED, 1)
        partial.replace(cached)
    return cached.read_bytes()


def lambda_function(place: Place, name: str, inputs: Inputs) -> Created:
    code = inputs.get("code")
    path = getattr(code, "path", None)
    if not isinstance(path, str) or not Path(path).is_dir():
        raise DeployError(f"code: the sandbox deploys a directory archive (FileArchive), got {code!r}")
    function_name = inputs.get("name") or physical_name(name)
    environment = inputs.get("environment", {})
    logging_config = inputs.get("loggingConfig", {})
    ephemeral = inputs.get("ephemeralStorage", {})
    lambda_ = place.client("lambda")
    function = lambda_.create_function(
        **_params(
            FunctionName=function_name,
            Role=inputs.get("role"),
            Runtime=inputs.get("runtime"),
            Handler=inputs.get("handler"),
            Code=place.code_location(path),
            Description=inputs.get("description"),
            Timeout=inputs.integer("timeout"),
            MemorySize=inputs.integer("memorySize"),
            Architectures=inputs.get("architectures"),
            EphemeralStorage={"Size": int(ephemeral["size"])} if ephemeral.get("size") else None,
            Environment={"Variables": dict(environment.get("variables", {}))} if environment else None,
            LoggingConfig=_params(
                LogFormat=logging_config.get("logFormat"),
                ApplicationLogLevel=logging_config.get("applicationLogLevel"),
                SystemLogLevel=logging_config.get("systemLogLevel"),
                LogGroup=logging_config.get("logGroup"),
            )
            or None,
            KMSKeyArn=inputs.get("kmsKeyArn"),
            Layers=inputs.get("layers"),
            Tags=_tags(place, inputs),
        )
    )
    reserved = inputs.integer("reservedConcurrentExecutions")
    if reserved is not None and reserved >= 0:
        lambda_.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=reserved)
    arn = function["FunctionArn"]
    return Created(
        function_name,
        {
            "arn": arn,
            "name": function_name,
            "qualifiedArn": f"{arn}:$LATEST",
            "invokeArn": (
                f"arn:aws:apigateway:{place.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
            ),
            "version": "$LATEST",
            "codeSha256": function["CodeSha256"],
        },
    )


def lambda_event_source_mapping(place: Place, name: str, inputs: Inputs) -> Created:
    """Created DISABLED: moto would try to invoke an enabled mapping's function through Docker. What the
    program declared is in the outputs (`enabled`); the sandbox's runner consumes the queue itself."""
    scaling = inputs.get("scalingConfig", {})
    mapping = place.client("lambda").create_event_source_mapping(
        **_params(
            EventSourceArn=inputs.get("eventSourceArn"),
            FunctionName=inputs.get("functionName"),
            BatchSize=inputs.integer("batchSize"),
            MaximumBatchingWindowInSeconds=inputs.integer("maximumBatchingWindowInSeconds"),
            FunctionResponseTypes=inputs.get("functionResponseTypes"),
            ScalingConfig={"MaximumConcurrency": int(scaling["maximumConcurrency"])}
            if scaling.get("maximumConcurrency")
            else None,
            Enabled=False,
        )
    )
    declared = bool(inputs.get("enabled", True))
    return Created(
        mapping["UUID"], {"uuid": mapping["UUID"], "functionArn": mapping["FunctionArn"], "enabled": declared}
    )


def lambda_permission(place: Place, name: str, inputs: Inputs) -> Created:
    statement_id = inputs.get("statementId") or physical_name(name, 100)
    function = inputs.get("function")
    place.client("lambda").add_permission(
        **_params(
            FunctionName=function,
            StatementId=statement_id,
            Action=inputs.get("action"),
            Principal=inputs.get("principal"),
            SourceArn=inputs.get("sourceArn"),
            SourceAccount=inputs.get("sourceAccount"),
            EventSourceToken=inputs.get("eventSourceToken"),
            PrincipalOrgID=inputs.get("principalOrgId"),
            FunctionUrlAuthType=inputs.get("functionUrlAuthType"),
            Qualifier=inputs.get("qualifier"),
        )
    )
    return Created(statement_id, {"statementId": statement_id})


# --- DynamoDB ---------------------------------------------------------------------------------------


def dynamodb_table(place: Place, name: str, inputs: Inputs) -> Created:
    table = inputs.get("name") or physical_name(name, 255)
    encryption = inputs.get("serverSideEncryption") or {}
    keys = [("hashKey", "HASH"), ("rangeKey", "RANGE")]
    dynamodb = place.client("dynamodb")
    description = dynamodb.create_table(
        **_params(
            TableName=table,
            BillingMode=inputs.get("billingMode"),
            AttributeDefinitions=[
                {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs.get("attributes", [])
            ],
            KeySchema=[
                {"AttributeName": inputs.get(key), "KeyType": kind} for key, kind in keys if inputs.get(key)
            ],
            SSESpecification=_params(
                Enabled=encryption.get("enabled"),
                SSEType="KMS" if encryption.get("kmsKeyArn") else None,
                KMSMasterKeyId=encryption.get("kmsKeyArn"),
            )
            or None,
            DeletionProtectionEnabled=inputs.get("deletionProtectionEnabled"),
            Tags=_tag_list(_tags(place, inputs)) or None,
        )
    )["TableDescription"]
    if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
        dynamodb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    ttl = inputs.get("ttl") or {}
    if ttl.get("enabled"):
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]}
        )
    return Created(table, {"arn": description["TableArn"], "name": table})


# --- EventBridge ------------------------------------------------------------------------------------


def event_bus_policy(place: Place, name: str, inputs: Inputs) -> Created:
    bus = inputs.get("eventBusName") or "default"
    place.client("events").put_permission(EventBusName=bus, Policy=inputs.get("policy"))
    return Created(bus, {"eventBusName": bus})


def event_rule(place: Place, name: str, inputs: Inputs) -> Created:
    rule = inputs.get("name") or physical_name(name)
    state = inputs.get("state") or ("DISABLED" if inputs.get("isEnabled") is False else None)
    arn = place.client("events").put_rule(
        **_params(
            Name=rule,
            ScheduleExpression=inputs.get("scheduleExpression"),
            EventPattern=inputs.get("eventPattern"),
            Description=inputs.get("description"),
            State=state,
            RoleArn=inputs.get("roleArn"),
            EventBusName=inputs.get("eventBusName"),
            Tags=_tag_list(_tags(place, inputs)) or None,
        )
    )["RuleArn"]
    return Created(rule, {"arn": arn, "name": rule})


def event_target(place: Place, name: str, inputs: Inputs) -> Created:
    rule, target_id = inputs.get("rule"), inputs.get("targetId") or physical_name(name)
    failed = place.client("events").put_targets(
        **_params(
            Rule=rule,
            EventBusName=inputs.get("eventBusName"),
            Targets=[
                _params(
                    Id=target_id,
                    Arn=inputs.get("arn"),
                    RoleArn=inputs.get("roleArn"),
                    Input=inputs.get("input"),
                    InputPath=inputs.get("inputPath"),
                )
            ],
        )
    )["FailedEntries"]
    if failed:
        raise DeployError(f"put_targets refused it: {failed[0].get('ErrorMessage')}")
    return Created(f"{rule}-{target_id}", {"targetId": target_id})


# --- CloudTrail ------------------------------------------------------------------------------------


def cloudtrail_trail(place: Place, name: str, inputs: Inputs) -> Created:
    trail = inputs.get("name") or physical_name(name, 128)
    cloudtrail = place.client("cloudtrail")
    arn = cloudtrail.create_trail(
        **_params(
            Name=trail,
            S3BucketName=inputs.get("s3BucketName"),
            S3KeyPrefix=inputs.get("s3KeyPrefix"),
            SnsTopicName=inputs.get("snsTopicName"),
            IncludeGlobalServiceEvents=inputs.get("includeGlobalServiceEvents"),
            IsMultiRegionTrail=inputs.get("isMultiRegionTrail"),
            EnableLogFileValidation=inputs.get("enableLogFileValidation"),
            CloudWatchLogsLogGroupArn=inputs.get("cloudWatchLogsGroupArn"),
            CloudWatchLogsRoleArn=inputs.get("cloudWatchLogsRoleArn"),
            KmsKeyId=inputs.get("kmsKeyId"),
            IsOrganizationTrail=inputs.get("isOrganizationTrail"),
            TagsList=_tag_list(_tags(place, inputs)) or None,
        )
    )["TrailARN"]
    selectors = [
        _params(
            ReadWriteType=s.get("readWriteType"),
            IncludeManagementEvents=s.get("includeManagementEvents"),
            DataResources=[{"Type": d["type"], "Values": d["values"]} for d in s.get("dataResources", [])]
            or None,
            ExcludeManagementEventSources=s.get("excludeManagementEventSources"),
        )
        for s in inputs.get("eventSelectors", [])
    ]
    if selectors:
        cloudtrail.put_event_selectors(TrailName=trail, EventSelectors=selectors)
    if inputs.get("enableLogging", True):  # the provider's default: logging on
        cloudtrail.start_logging(Name=trail)
    return Created(arn, {"arn": arn, "name": trail, "homeRegion": place.region})


# --- CloudWatch -------------------------------------------------------------------------------------


def log_group(place: Place, name: str, inputs: Inputs) -> Created:
    group = inputs.get("name") or physical_name(name, 512)
    logs = place.client("logs")
    logs.create_log_group(
        **_params(
            logGroupName=group,
            kmsKeyId=inputs.get("kmsKeyId"),
            logGroupClass=inputs.get("logGroupClass"),
            tags=_tags(place, inputs) or None,
        )
    )
    retention = inputs.integer("retentionInDays")
    if retention:
        logs.put_retention_policy(logGroupName=group, retentionInDays=retention)
    arn = f"arn:aws:logs:{place.region}:{place.account}:log-group:{group}"
    return Created(group, {"arn": arn, "name": group})


def metric_alarm(place: Place, name: str, inputs: Inputs) -> Created:
    alarm = inputs.get("name") or physical_name(name, 255)
    cloudwatch = place.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        **_params(
            AlarmName=alarm,
            AlarmDescription=inputs.get("alarmDescription"),
            Namespace=inputs.get("namespace"),
            MetricName=inputs.get("metricName"),
            Dimensions=[{"Name": k, "Value": v} for k, v in inputs.get("dimensions", {}).items()] or None,
            Statistic=inputs.get("statistic"),
            Period=inputs.integer("period"),
            EvaluationPeriods=inputs.integer("evaluationPeriods"),
            DatapointsToAlarm=inputs.integer("datapointsToAlarm"),
            Threshold=inputs.get("threshold"),
            ComparisonOperator=inputs.get("comparisonOperator"),
            TreatMissingData=inputs.get("treatMissingData"),
            AlarmActions=inputs.get("alarmActions"),
            OKActions=inputs.get("okActions"),
            InsufficientDataActions=inputs.get("insufficientDataActions"),
            ActionsEnabled=inputs.get("actionsEnabled"),
            Tags=_tag_list(_tags(place, inputs)) or None,
        )
    )
    arn = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmArn"]
    return Created(alarm, {"arn": arn, "name": alarm})


CREATORS: dict[str, Creator] = {
    "aws:s3/bucket:Bucket": s3_bucket,
    "aws:s3/bucketV2:BucketV2": s3_bucket,
    "aws:s3/bucketPolicy:BucketPolicy": s3_bucket_policy,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": s3_bucket_public_access_block,
    "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock": s3_account_public_access_block,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": s3_bucket_ownership_controls,
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ): s3_bucket_encryption,
    "aws:s3/bucketVersioning:BucketVersioning": s3_bucket_versioning,
    "aws:s3/bucketLogging:BucketLogging": s3_bucket_logging,
    "aws:s3/bucketNotification:BucketNotification": s3_bucket_notification,
    "aws:kms/key:Key": kms_key,
    "aws:kms/keyPolicy:KeyPolicy": kms_key_policy,
    "aws:sqs/queue:Queue": sqs_queue,
    "aws:sqs/queuePolicy:QueuePolicy": sqs_queue_policy,
    "aws:sns/topic:Topic": sns_topic,
    "aws:sns/topicPolicy:TopicPolicy": sns_topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": sns_topic_subscription,
    "aws:iam/role:Role": iam_role,
    "aws:iam/rolePolicy:RolePolicy": iam_role_policy,
    "aws:lambda/function:Function": lambda_function,
    "aws:lambda/eventSourceMapping:EventSourceMapping": lambda_event_source_mapping,
    "aws:lambda/permission:Permission": lambda_permission,
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": event_bus_policy,
    "aws:cloudwatch/eventRule:EventRule": event_rule,
    "aws:dynamodb/table:Table": dynamodb_table,
    "aws:cloudwatch/eventTarget:EventTarget": event_target,
    "aws:cloudwatch/logGroup:LogGroup": log_group,
    "aws:cloudtrail/trail:Trail": cloudtrail_trail,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarm,
}


def create(type_: str, place: Place, name: str, raw_inputs: Mapping[str, Any]) -> Created:
    """Creates one resource; every failure names the resource's type and name."""
    creator = CREATORS.get(type_)
    if creator is None:
        raise DeployError(f"{type_} {name}: the sandbox cannot deploy this resource type (no creator for it)")
    inputs = Inputs(raw_inputs)
    try:
        created = creator(place, name, inputs)
    except DeployError as exc:
        raise DeployError(f"{type_} {name}: {exc}") from None
    except Exception as exc:  # botocore's validation and the API's own errors, with the resource's name
        raise DeployError(f"{type_} {name}: {type(exc).__name__}: {exc}") from None
    unread = inputs.unread()
    if unread:
        raise DeployError(f"{type_} {name}: input(s) {', '.join(unread)} not deployed by the sandbox")
    return created
