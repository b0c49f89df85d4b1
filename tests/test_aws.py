"""bucketguard/aws.py: the helpers every layer shares for naming objects, reading ARNs and local endpoints."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bucketguard.aws import arn_region, object_location, real_version_id, strip_account_host_prefix


def test_object_location_names_the_version_only_when_there_is_one() -> None:
    assert object_location("b", "k", "v1") == {"Bucket": "b", "Key": "k", "VersionId": "v1"}
    assert object_location("b", "k", None) == {"Bucket": "b", "Key": "k"}
    assert object_location("b", "k", real_version_id("null")) == {"Bucket": "b", "Key": "k"}
    assert real_version_id("v1") == "v1"


def test_arn_region() -> None:
    assert arn_region("arn:aws:sns:eu-west-1:111111111111:results") == "eu-west-1"
    assert arn_region("arn:aws:iam::111111111111:role/x") == ""
    with pytest.raises(ValueError, match="not an ARN"):
        arn_region("results")


def test_the_s3_control_hook_strips_only_the_account_in_front_of_the_local_endpoint() -> None:
    hook = strip_account_host_prefix("http://127.0.0.1:5000")
    request = SimpleNamespace(
        url="http://123456789012.127.0.0.1:5000/v20180820/configuration/publicAccessBlock"
    )
    hook(request)
    assert request.url == "http://127.0.0.1:5000/v20180820/configuration/publicAccessBlock"
    elsewhere = SimpleNamespace(url="https://123456789012.s3-control.eu-west-1.amazonaws.com/v20180820/x")
    hook(elsewhere)
    assert elsewhere.url.startswith("https://123456789012.s3-control")
