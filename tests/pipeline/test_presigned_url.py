"""The object a presigned GET reads, parsed the way S3 routes it; everything else refused."""

from __future__ import annotations

import pytest

from bucketguard.pipeline.presigned_url import S3Object, UnrecognisedUrl, parse_presigned_get

SIGNED = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc"
SANDBOX = "http://127.0.0.1:5123"


@pytest.mark.parametrize(
    ("url", "bucket", "key", "version"),
    [
        # virtual-hosted style: regional, legacy global, legacy s3-<region>, dual-stack, FIPS, China, GovCloud
        ("https://camp.s3.eu-west-1.amazonaws.com/a.txt?versionId=v1", "camp", "a.txt", "v1"),
        ("https://camp.s3.amazonaws.com/a.txt", "camp", "a.txt", None),
        ("https://camp.s3-external-1.amazonaws.com/a.txt", "camp", "a.txt", None),
        ("https://camp.s3-us-west-2.amazonaws.com/a.txt", "camp", "a.txt", None),
        ("https://camp.s3.dualstack.eu-west-1.amazonaws.com/a.txt", "camp", "a.txt", None),
        ("https://camp.s3-fips.us-east-1.amazonaws.com/a.txt", "camp", "a.txt", None),
        ("https://camp.s3-fips.dualstack.us-gov-west-1.amazonaws.com/a.txt", "camp", "a.txt", None),
        ("https://camp.s3.cn-north-1.amazonaws.com.cn/a.txt", "camp", "a.txt", None),
        # dotted bucket names: the endpoint is the host's end, the bucket everything before it
        ("https://camp.s3.foo.s3.amazonaws.com/a.txt", "camp.s3.foo", "a.txt", None),
        ("https://camp.s3.eu-west-1.s3.eu-west-1.amazonaws.com/a.txt", "camp.s3.eu-west-1", "a.txt", None),
        ("https://www.example.org.s3.amazonaws.com/a.txt", "www.example.org", "a.txt", None),
        # path style, dotted bucket names included
        ("https://s3.amazonaws.com/camp.s3.foo/a.txt", "camp.s3.foo", "a.txt", None),
        ("https://s3.eu-west-1.amazonaws.com/camp/dir/a.txt?versionId=v1", "camp", "dir/a.txt", "v1"),
        ("https://s3.dualstack.ap-south-1.amazonaws.com/camp/a.txt", "camp", "a.txt", None),
        ("https://s3-fips.us-east-2.amazonaws.com/camp/a.txt", "camp", "a.txt", None),
        ("https://s3.amazonaws.com:443/Legacy_Bucket/a.txt", "Legacy_Bucket", "a.txt", None),
        # access points: the access point's ARN, which never equals a bucket name
        (
            "https://myap-123456789012.s3-accesspoint.eu-west-1.amazonaws.com/a.txt",
            "arn:aws:s3:eu-west-1:123456789012:accesspoint/myap",
            "a.txt",
            None,
        ),
        (
            "https://ap-2-123456789012.s3-accesspoint.dualstack.cn-north-1.amazonaws.com.cn/a.txt",
            "arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/ap-2",
            "a.txt",
            None,
        ),
        # the sandbox (a configured private origin): path style only
        (f"{SANDBOX}/camp/uploads/a.txt?versionId=v1&{SIGNED}", "camp", "uploads/a.txt", "v1"),
        # keys decoded exactly once, the way botocore encodes them
        ("https://camp.s3.amazonaws.com/a%20b%2Bc/%C3%BC~x.txt", "camp", "a b+c/\u00fc~x.txt", None),
        ("https://camp.s3.amazonaws.com/a%2Fb", "camp", "a/b", None),
        ("https://camp.s3.amazonaws.com//lead", "camp", "/lead", None),
        (
            "https://camp.s3.amazonaws.com/a.txt?x-id=GetObject&AWSAccessKeyId=k&Signature=s&Expires=1",
            "camp",
            "a.txt",
            None,
        ),
    ],
)
def test_urls_s3_routes_are_read_as_s3_reads_them(
    url: str, bucket: str, key: str, version: str | None
) -> None:
    assert parse_presigned_get(url, (SANDBOX,)) == S3Object(bucket, key, version)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        # not S3: other services and EC2 instances live under amazonaws.com too
        ("https://ec2-1-2-3-4.compute-1.amazonaws.com/camp/a.txt", "not an S3 endpoint"),
        ("https://camp.s3.foo.ec2-1-2-3-4.compute-1.amazonaws.com/a.txt", "not an S3 endpoint"),
        ("https://sqs.us-east-1.amazonaws.com/camp/a.txt", "not an S3 endpoint"),
        ("https://camp.s3.amazonaws.com.evil.example/a.txt", "not an S3 endpoint"),
        ("https://camp.s3-website-us-east-1.amazonaws.com/a.txt", "not an S3 endpoint"),
        (
            "https://camp--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com/a.txt",
            "not an S3 endpoint",
        ),
        ("https://ol-123456789012.s3-object-lambda.us-east-1.amazonaws.com/a.txt", "not an S3 endpoint"),
        ("https://camp.vpce-0a1b2c3d.s3.us-east-1.vpce.amazonaws.com/a.txt", "not an S3 endpoint"),
        ("https://s3-accesspoint.eu-west-1.amazonaws.com/myap/a.txt", "not an S3 endpoint"),
        ("https://camp.s3.cn-north-1.amazonaws.com/a.txt", "amazonaws.com.cn"),
        ("https://camp.s3.eu-west-1.amazonaws.com.cn/a.txt", "China regions only"),
        # not https, another port, an origin nobody configured, a look-alike of the configured one
        ("http://camp.s3.amazonaws.com/a.txt", "not an S3 endpoint nor configured"),
        ("https://camp.s3.amazonaws.com:8443/a.txt", "not an S3 endpoint nor configured"),
        ("http://169.254.169.254/latest/meta-data", "not an S3 endpoint nor configured"),
        ("http://127.0.0.1:5124/camp/a.txt", "not an S3 endpoint nor configured"),
        ("https://user@camp.s3.amazonaws.com/a.txt", "no user information"),
        ("https://camp.s3.amazonaws.com/a.txt#frag", "no user information or fragment"),
        # no valid bucket or no object
        ("https://ca_mp.s3.amazonaws.com/a.txt", "valid bucket"),
        ("https://camp..x.s3.amazonaws.com/a.txt", "valid bucket"),
        ("https://192.168.1.1.s3.amazonaws.com/a.txt", "valid bucket"),
        ("https://s3.amazonaws.com/camp", "valid bucket name"),
        ("https://s3.amazonaws.com/ca%2Fmp/a.txt", "valid bucket name"),
        ("https://camp.s3.amazonaws.com/", "names a bucket, not an object"),
        ("https://s3.amazonaws.com/camp/", "names a bucket, not an object"),
        # encodings S3 could read another way than we do
        ("https://camp.s3.amazonaws.com/a+b.txt", "unambiguously"),
        ("https://camp.s3.amazonaws.com/a%zz.txt", "unambiguously"),
        ("https://camp.s3.amazonaws.com/a%FF.txt", "not UTF-8"),
        ("https://camp.s3.amazonaws.com/a.txt?versionId=v+1", "unambiguously"),
        # sub-resources and parameters that answer something else than the object's bytes
        ("https://camp.s3.amazonaws.com/a.txt?acl", "malformed"),
        ("https://camp.s3.amazonaws.com/a.txt?tagging=", "'tagging'"),
        ("https://camp.s3.amazonaws.com/a.txt?partNumber=1", "'partNumber'"),
        ("https://camp.s3.amazonaws.com/a.txt?response-content-type=x", "'response-content-type'"),
        ("https://camp.s3.amazonaws.com/a.txt?x-id=GetObjectAcl", "'x-id'"),
        ("https://camp.s3.amazonaws.com/a.txt?versionId=v1&versionId=v2", "repeated"),
        ("https://[::1/a", "not a URL"),
    ],
)
def test_anything_else_is_refused(url: str, why: str) -> None:
    with pytest.raises(UnrecognisedUrl, match=why) as refused:
        parse_presigned_get(url, (SANDBOX,))
    assert "?" not in str(refused.value) and "/a.txt" not in str(refused.value)  # the URL is a secret


def test_presigned_urls_from_botocore_read_what_was_signed() -> None:
    """Every addressing botocore chooses (global, regional, dual-stack, FIPS, dotted names -> path style)."""
    import boto3
    from botocore.config import Config

    key = "uploads/a b+c/\u00fc~x.txt"
    configs = [
        Config(signature_version="s3v4"),
        Config(signature_version="s3v4", s3={"use_dualstack_endpoint": True}),
        Config(signature_version="s3v4", use_fips_endpoint=True),
        Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    ]
    for region in ("us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"):
        for config in configs:
            if region == "cn-north-1" and config.use_fips_endpoint:
                continue  # no FIPS endpoints in China
            s3 = boto3.client(
                "s3", region_name=region, config=config, aws_access_key_id="a", aws_secret_access_key="b"
            )
            for bucket in ("camp", "camp.s3.foo"):
                params = {"Bucket": bucket, "Key": key, "VersionId": "v1"}
                url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
                assert parse_presigned_get(url) == S3Object(bucket, key, "v1"), url
