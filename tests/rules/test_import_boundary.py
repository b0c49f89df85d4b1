"""The rule catalogue must stay importable where neither pulumi nor boto3 exists (live audit, Lambda)."""

import json
import subprocess
import sys

FORBIDDEN = ("pulumi", "pulumi_aws", "pulumi_policy", "boto3", "botocore")

PROBE = """
import json, sys
import bucketguard.rules
from bucketguard.rules import all_rules
all_rules()
import bucketguard.rules.docs
print(json.dumps(sorted(m for m in sys.modules)))
"""


def test_rules_package_imports_neither_pulumi_nor_boto3() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "bucketguard.rules.catalogue.s3.public_access" in loaded  # the probe really loaded the catalogue
    offenders = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert offenders == []
