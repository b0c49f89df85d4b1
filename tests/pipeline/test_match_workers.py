"""The scanner Lambda's path with match workers: forked by the handler between batches, then an object read
through ranged GETs straight into the workers' shared memory gets the verdict one process gives it.

Both run in fresh interpreters (the engine forks only from a process running one thread): the storage is a
local range server in a process of its own (tests/range_server.py), the scanner another.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.engine import WINDOW_BYTES, _windows
from bucketguard.scanning.workers import usable_cpus

ROOT = Path(__file__).resolve().parents[2]

STORAGE = """
import sys, time
from pathlib import Path
from tests.range_server import RangeHandler, StoredFile, serve
RangeHandler.objects["/camp/poster.js"] = StoredFile(Path(sys.argv[1]))
for url in serve():
    print(url, flush=True)
    time.sleep(3600)
"""

SCANNER = """
import json, sys
from bucketguard.pipeline.download import RangedObject
from bucketguard.pipeline.lambda_functions import ScannerFunction
from bucketguard.pipeline.scanner import Scanner
from bucketguard.pipeline.settings import ScannerSettings

url, size = sys.argv[1], int(sys.argv[2])
scanner = Scanner(ScannerSettings.resolve({}), sns=None)
bad = {"messageId": "m1", "body": "not a scan request", "receiptHandle": "r", "md5OfBody": "",
       "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs",
       "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scan", "awsRegion": "us-east-1"}
try:
    failed = ScannerFunction(scanner).handle({"Records": [bad]})
except Exception as exc:  # a batch whose every record failed is raised whole, as SQS expects
    failed = type(exc).__name__
engine = scanner.engine
workers = len(engine._workers) if engine._workers is not None else 0

def scanned():
    with RangedObject(url + "/camp/poster.js?versionId=v1", size=size, etag="file") as source:
        result = engine.scan_source(source, name="poster.js").to_dict()
    result.pop("duration_ms")
    return result

parallel = scanned()
engine.close()
print(json.dumps({"failed": failed, "workers": workers, "parallel": parallel, "serial": scanned()}))
"""


@pytest.mark.skipif(usable_cpus() < 2, reason="one CPU: the engine forks no worker")
def test_the_handler_forks_workers_and_a_ranged_object_gets_the_one_process_verdict(tmp_path: Path) -> None:
    loader = pranks.injected_js()
    size = WINDOW_BYTES + WINDOW_BYTES // 2
    _, length = _windows(size)
    straddle = length - len(loader) // 2  # across the end of the first window: found in the second
    poster = tmp_path / "poster.js"
    with poster.open("wb") as stream:
        stream.write(b"/* padding */\n" + b" " * (straddle - 14))
        stream.write(loader)
        stream.write(b"\n" * (size - straddle - len(loader)))
    storage = subprocess.Popen(
        [sys.executable, "-c", STORAGE, str(poster)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert storage.stdout is not None
        url = storage.stdout.readline().strip()
        completed = subprocess.run(
            [sys.executable, "-c", SCANNER, url, str(size)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
    finally:
        storage.kill()
        storage.wait()
    assert completed.returncode == 0, completed.stderr[-3000:]
    found = json.loads(completed.stdout.splitlines()[-1])
    assert found["failed"] == "BatchProcessingError"  # the batch (one bad message) went through the handler
    assert found["workers"] == 2
    assert found["parallel"] == found["serial"]
    assert found["parallel"]["verdict"] == "malicious", found["parallel"]
    assert found["parallel"]["size"] == size
