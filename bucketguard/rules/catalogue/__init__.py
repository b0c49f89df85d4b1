"""The rule catalogue: one module per service (S3: one per concern). Each module declares its rules with
``@rule``; bucketguard.rules.registry collects the rules of the modules listed in MODULES."""

from bucketguard.rules.catalogue import cloudtrail, ec2, iam, kms, lambda_, messaging, region
from bucketguard.rules.catalogue.s3 import data_protection, malware_scanning, public_access

MODULES = (
    public_access,
    data_protection,
    malware_scanning,
    iam,
    kms,
    lambda_,
    messaging,
    ec2,
    cloudtrail,
    region,
)
