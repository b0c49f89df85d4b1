"""Environment variable names of the Lambda functions: defined once, imported by the handlers and by infra/.

The pipeline issue may add names here; renaming one is a breaking change for deployed stacks.
"""

# bucket listener (storage account)
SCANNER_QUEUE_URL = "BUCKETGUARD_SCANNER_QUEUE_URL"
# The queue's region: SQS answers for its own region only, and a storage may live in another one.
SCANNER_QUEUE_REGION = "BUCKETGUARD_SCANNER_QUEUE_REGION"
RESULT_TOPIC_ARN = "BUCKETGUARD_RESULT_TOPIC_ARN"
STORAGE_STACK_ID = "BUCKETGUARD_STORAGE_STACK_ID"
PRESIGN_TTL_SECONDS = "BUCKETGUARD_PRESIGN_TTL_SECONDS"
SKIP_PREFIXES = "BUCKETGUARD_SKIP_PREFIXES"  # comma-separated
SKIP_SUFFIXES = "BUCKETGUARD_SKIP_SUFFIXES"  # comma-separated
SKIP_LARGER_THAN_BYTES = "BUCKETGUARD_SKIP_LARGER_THAN_BYTES"
# keys the platform writes itself into the protected bucket (never rescanned); comma-separated prefixes
PLATFORM_PREFIXES = "BUCKETGUARD_PLATFORM_PREFIXES"
# rescan on rule updates (scanner.rescanOnUpdate): none | not-clean | all-since:DAYS; the listener sweeps
# PROTECTED_BUCKET in batches it queues on its own queue, verifying seals with SEAL_KEY_ID
RESCAN_ON_UPDATE = "BUCKETGUARD_RESCAN_ON_UPDATE"
PROTECTED_BUCKET = "BUCKETGUARD_PROTECTED_BUCKET"
LISTENER_QUEUE_URL = "BUCKETGUARD_LISTENER_QUEUE_URL"
RESCAN_BATCH_SIZE = "BUCKETGUARD_RESCAN_BATCH_SIZE"  # versions listed per sweep message (default 100)
RESCAN_INTERVAL_SECONDS = "BUCKETGUARD_RESCAN_INTERVAL_SECONDS"  # delay between batches (default 60)
# delay before the first batch, so the scanner has loaded the new ruleset (default 600, at most 900)
RESCAN_START_DELAY_SECONDS = "BUCKETGUARD_RESCAN_START_DELAY_SECONDS"

# scanner (scanner account)
RULESET_PATH = "BUCKETGUARD_RULESET_PATH"
HASHES_PATH = "BUCKETGUARD_HASHES_PATH"
MAX_OBJECT_BYTES = "BUCKETGUARD_MAX_OBJECT_BYTES"
SCANNER_ID = "BUCKETGUARD_SCANNER_ID"
ENGINE = "BUCKETGUARD_ENGINE"
MIN_SEVERITY = "BUCKETGUARD_MIN_SEVERITY"
TMP_DIR = "BUCKETGUARD_TMP_DIR"  # where archives are copied to be opened (default: the system temp dir)
# comma-separated origins (scheme://host[:port]) the scanner may download from besides https://*.amazonaws.com
DOWNLOAD_ORIGINS = "BUCKETGUARD_DOWNLOAD_ORIGINS"
DOWNLOAD_TIMEOUT_SECONDS = "BUCKETGUARD_DOWNLOAD_TIMEOUT_SECONDS"
# comma-separated result topic ARNs the scanner may publish to (empty: any; the IAM policy still restricts)
ALLOWED_RESULT_TOPIC_ARNS = "BUCKETGUARD_ALLOWED_RESULT_TOPIC_ARNS"
# the rules bucket the scanner watches for a newer published ruleset (empty: the bundled ruleset only)
RULES_BUCKET = "BUCKETGUARD_RULES_BUCKET"
RULES_KEY = "BUCKETGUARD_RULES_KEY"  # default ruleset.zip
RULES_CHECK_SECONDS = "BUCKETGUARD_RULES_CHECK_SECONDS"  # at most one HEAD this often (default 300)
# scheduled rule update (scanner account): the feeds, as a JSON list of scanner.ruleSources entries;
# it also reads RULES_BUCKET, ALERT_TOPIC_ARN, ENGINE and TMP_DIR
RULE_SOURCES = "BUCKETGUARD_RULE_SOURCES"
# the topic the rule update announces each published ruleset on (storages subscribe to rescan)
RULESET_TOPIC_ARN = "BUCKETGUARD_RULESET_TOPIC_ARN"

# post-scan actions (storage account)
ACTIONS = "BUCKETGUARD_ACTIONS"  # comma-separated subset of tag,quarantine,promote,notify
QUARANTINE_BUCKET = "BUCKETGUARD_QUARANTINE_BUCKET"
QUARANTINE_VERDICTS = "BUCKETGUARD_QUARANTINE_VERDICTS"  # comma-separated, default "malicious"
PROMOTE_BUCKET = "BUCKETGUARD_PROMOTE_BUCKET"
PROMOTE_DELETE_SOURCE = "BUCKETGUARD_PROMOTE_DELETE_SOURCE"
ALERT_TOPIC_ARN = "BUCKETGUARD_ALERT_TOPIC_ARN"
NOTIFY_VERDICTS = "BUCKETGUARD_NOTIFY_VERDICTS"  # comma-separated, default "malicious,unscannable,error"
# the KMS HMAC key (GENERATE_VERIFY_MAC) sealing the verdict tags; only post-scan may use it
SEAL_KEY_ID = "BUCKETGUARD_SEAL_KEY_ID"
WEBHOOK_SECRET_ARN = "BUCKETGUARD_WEBHOOK_SECRET_ARN"  # noqa: S105 (a variable name) - the webhook URL is a secret: never in plain env

LOG_LEVEL = "BUCKETGUARD_LOG_LEVEL"

# real-time monitor (security account): the DynamoDB table of findings and handled event ids, the role it
# assumes in each monitored account (by name; its own account is read with its own role), bucketguard's own
# role ARNs (comma-separated: their events are not judged), the rules its fixers may repair, the monitored
# regions, Security Hub delivery and the policy config (JSON) the audit uses; it also reads ALERT_TOPIC_ARN
# and WEBHOOK_SECRET_ARN
MONITOR_TABLE = "BUCKETGUARD_MONITOR_TABLE"
MONITOR_MEMBER_ROLE_NAME = "BUCKETGUARD_MONITOR_MEMBER_ROLE_NAME"
MONITOR_IGNORED_PRINCIPALS = "BUCKETGUARD_MONITOR_IGNORED_PRINCIPALS"
MONITOR_REMEDIATE = "BUCKETGUARD_MONITOR_REMEDIATE"
MONITOR_REGIONS = "BUCKETGUARD_MONITOR_REGIONS"
MONITOR_SECURITY_HUB = "BUCKETGUARD_MONITOR_SECURITY_HUB"
MONITOR_POLICY_CONFIG = "BUCKETGUARD_MONITOR_POLICY_CONFIG"
# the audit's and the monitor's: the listener queues the deployment made (audit.run.listener_digest of each,
# comma-separated), the only notification targets that make a bucket scanned
LISTENER_QUEUE_DIGESTS = "BUCKETGUARD_LISTENER_QUEUE_DIGESTS"

# scheduled audit (AuditStack): the DynamoDB findings history (and its runs), the audited regions, the roles
# it assumes in other accounts (comma-separated ARNs; its own account is always audited), Security Hub
# import and the policy config (JSON); the fan-out sends one message per account and region to the queue,
# the run's last message writes the reports to the bucket and publishes the summary to the topic
AUDIT_TABLE = "BUCKETGUARD_AUDIT_TABLE"
AUDIT_QUEUE_URL = "BUCKETGUARD_AUDIT_QUEUE_URL"
AUDIT_REPORT_BUCKET = "BUCKETGUARD_AUDIT_REPORT_BUCKET"
AUDIT_SUMMARY_TOPIC_ARN = "BUCKETGUARD_AUDIT_SUMMARY_TOPIC_ARN"
AUDIT_REGIONS = "BUCKETGUARD_AUDIT_REGIONS"
AUDIT_ROLE_ARNS = "BUCKETGUARD_AUDIT_ROLE_ARNS"
AUDIT_SECURITY_HUB = "BUCKETGUARD_AUDIT_SECURITY_HUB"
AUDIT_POLICY_CONFIG = "BUCKETGUARD_AUDIT_POLICY_CONFIG"
