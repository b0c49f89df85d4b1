"""Scanner (scanner account): a scan request in, a scan-result event out to the requesting storage's topic.

The object is read through the presigned URL with ranged GETs pinned to its version and ETag and scanned
window by window (bounded memory, no copy on disk unless it is an archive, whose copy is removed in every
path), so objects larger than the Lambda's disk are scanned. The scanner holds no S3 permission: it reads
only through the presigned URL.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from bucketguard.pipeline.download import RangedObject, ReadFailed, TransientDownloadError
from bucketguard.pipeline.messages import InvalidMessage, ScanRequest, ScanResultEvent, utc_now_iso
from bucketguard.pipeline.outbox import PendingVerdict
from bucketguard.pipeline.presigned_url import UnrecognisedUrl, parse_presigned_get
from bucketguard.pipeline.settings import ScannerSettings
from bucketguard.scanning.result import Reason, ScanResult, Verdict

if TYPE_CHECKING:
    from bucketguard.pipeline.rules_bucket import RulesetWatcher
    from bucketguard.scanning.engine import Engine
    from bucketguard.scanning.ruleset import Ruleset

log = logging.getLogger("bucketguard.scanner")

_ENGINES: dict[tuple[Any, ...], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def build_engine(settings: ScannerSettings, ruleset: Ruleset) -> Engine:
    """An engine over `ruleset` with these settings' hash list, limits and severity."""
    from bucketguard.scanning.engine import Engine, Limits
    from bucketguard.scanning.hashes import HashList

    return Engine(
        ruleset,
        engine=settings.engine,
        hashes=HashList.load(settings.hashes_path) if settings.hashes_path else None,
        limits=Limits(max_file_bytes=settings.max_object_bytes),
        min_severity=settings.min_severity,
        work_dir=settings.tmp_dir,
    )


def engine_for(settings: ScannerSettings) -> Engine:
    """The engine for these settings, built once per container: compiling rules is the slow part."""
    from bucketguard.scanning.ruleset import load_artifact, load_ruleset

    key = (
        settings.ruleset_path,
        settings.hashes_path,
        settings.engine,
        settings.min_severity,
        settings.max_object_bytes,
        settings.tmp_dir,
    )
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            ruleset = load_artifact(settings.ruleset_path) if settings.ruleset_path else load_ruleset()
            _ENGINES[key] = build_engine(settings, ruleset)
        return _ENGINES[key]


class Scanner:
    def __init__(
        self,
        settings: ScannerSettings,
        sns: Any,
        *,
        engine: Engine | None = None,
        watcher: RulesetWatcher | None = None,
    ) -> None:
        self.settings = settings
        self.sns = sns
        self._engine = engine
        self.watcher = watcher  # None: the ruleset shipped with the function, never replaced

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_for(self.settings)
        return self._engine

    def refresh_ruleset(self) -> str | None:
        """Between batches: swap in a newer published ruleset. "loaded", "rejected" (the current ruleset
        stays), or None (nothing new). Never raises: a bad ruleset must not stop scanning."""
        from bucketguard.pipeline.rules_bucket import RulesetRejected
        from bucketguard.scanning.ruleset import RulesetError

        if self.watcher is None:
            return None
        # Nothing loaded yet (the function's init): the shipped ruleset is loaded only if none is newer.
        current = self._engine.ruleset_version if self._engine is not None else "the shipped ruleset"
        try:
            ruleset = self.watcher.newer_ruleset()
            if ruleset is None:
                return None
            engine = build_engine(self.settings, ruleset)  # compiled (or deserialised) before the swap
        except (RulesetRejected, RulesetError, ValueError) as exc:
            log.error("published ruleset rejected, keeping %s: %s", current, exc, extra={"ruleset": current})
            return "rejected"
        previous, self._engine = self._engine, engine
        if previous is not None:
            previous.close()  # its match workers hold the old rules
        log.info("ruleset loaded", extra={"ruleset": engine.ruleset_version, "previous": current})
        return "loaded"

    def _unscanned(self, request: ScanRequest, verdict: Verdict, reason: Reason, detail: str) -> ScanResult:
        return ScanResult(
            target=request.key,
            verdict=verdict,
            reason=reason,
            detail=detail,
            size=request.size,
            backend=self.engine.backend,
            ruleset_version=self.engine.ruleset_version,
        )

    def scan(self, request: ScanRequest) -> ScanResult:
        """Download and scan one object version. Raises TransientDownloadError when a retry may help."""
        cap = self.settings.max_object_bytes
        if request.size > cap:
            detail = f"object is {request.size} bytes, over the scanner's cap of {cap}"
            return self._unscanned(request, Verdict.UNSCANNABLE, Reason.TOO_LARGE, detail)
        engine = self.engine  # compile before downloading: a bad ruleset must not cost a download
        tmp_dir = self.settings.tmp_dir
        if tmp_dir is not None:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        timeout = self.settings.download_timeout_seconds
        with RangedObject(request.url, size=request.size, etag=request.etag, timeout=timeout) as source:
            try:
                return engine.scan_source(source, name=request.key)
            except ReadFailed as exc:
                if isinstance(exc.cause, TransientDownloadError):
                    raise exc.cause from None
                return self._unscanned(request, Verdict.ERROR, exc.cause.reason, exc.cause.detail)

    def check_request(self, request: ScanRequest) -> None:
        allowed = self.settings.allowed_result_topic_arns
        if allowed and request.result_topic_arn not in allowed:
            raise InvalidMessage(f"scan request: result topic {request.result_topic_arn} is not registered")
        # The verdict is published for the object the request names, so the URL must read exactly that
        # version: else a compromised listener could get a clean file's verdict tagged on another's malware.
        # A refused request publishes nothing: the object stays untagged, so the bucket policy blocks it.
        where = f"scan request for s3://{request.bucket}/{request.key}"
        try:
            read = parse_presigned_get(request.url, self.settings.download_origins)
        except UnrecognisedUrl as exc:
            raise InvalidMessage(f"{where}: presigned URL refused: {exc}") from None
        for what, got, wanted in (
            ("bucket", read.bucket, request.bucket),
            ("key", read.key, request.key),
            ("version", read.version_id, request.version_id),
        ):
            if got != wanted:
                raise InvalidMessage(f"{where}: the presigned URL reads another {what}")

    def judge(self, body: str) -> PendingVerdict:
        """One SQS message: parse, scan, the verdict to publish. Raises when the message should be retried."""
        request = ScanRequest.from_json(body)
        self.check_request(request)
        started = time.monotonic()
        try:
            result = self.scan(request)
        except InvalidMessage:
            raise
        except Exception as exc:
            # A transient download failure is retried by SQS; anything else is a bug we must not hide
            # behind a retry loop: it is reported as an error verdict (never clean).
            if isinstance(exc, TransientDownloadError):
                raise
            log.exception("scan failed", extra={"bucket": request.bucket, "key": request.key})
            result = self._unscanned(
                request, Verdict.ERROR, Reason.INTERNAL_ERROR, f"scanner failed: {type(exc).__name__}"
            )
        event = ScanResultEvent.for_request(
            request,
            result,
            scan_id=str(uuid.uuid4()),
            scanner_id=self.settings.scanner_id,
            scanned_at=utc_now_iso(),
        )
        log.info(
            "scanned",
            extra={
                "bucket": request.bucket,
                "key": request.key,
                "version_id": request.version_id,
                "verdict": result.verdict.value,
                "reason": result.reason.value if result.reason else None,
                "rules": list(dict.fromkeys(f.rule for f in result.findings)),  # not one per member
                "findings": len(result.findings),
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return PendingVerdict(event, request.result_topic_arn)

    def handle_request(self, body: str) -> ScanResultEvent:
        """One SQS message judged and its verdict published on its own (one Publish)."""
        verdict = self.judge(body)
        self.sns.publish(TopicArn=verdict.topic_arn, **verdict.entry())
        return verdict.event
