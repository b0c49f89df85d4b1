"""Pipeline figures on the embedded AWS (a script, not a test): prints what it measures.

1. upload-to-tag latency (p50, p95) for N objects of mixed sizes, uploaded at a steady rate through the camp
   example deployed by infra/ (listener -> scanner -> post-scan, one process each, as one Lambda instance);
   once with the scanner taking one request per invocation (batch size 1), once with batches of 10;
2. scanner throughput per worker (presigned download + scan + publish, objects/s and MB/s), 1,000 small and
   1,000 mixed objects, one by one and in batches of 10 with the next download overlapping the scan;
3. the scanner's peak RSS while scanning a 2 GiB object (measured in a child process).

    .venv/bin/python benchmarks/pipeline_bench.py [--objects 1000] [--rate 25] [--throughput-objects 1000]
        [--big-gib 2] [--skip-big]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bucketguard.demo import pranks
from bucketguard.pipeline.lambda_functions import ScannerFunction
from bucketguard.pipeline.messages import ScanRequest
from bucketguard.pipeline.scanner import Scanner
from bucketguard.pipeline.settings import ScannerSettings
from bucketguard.sandbox.aws import STORAGE_ACCOUNT, EmbeddedAws
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, read_stack_config
from bucketguard.sandbox.sandbox import Sandbox

KiB, MiB = 1024, 1024 * 1024
BLOCK = os.urandom(4 * MiB)


def mixed_size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.70:
        return rng.randint(0, 16 * KiB)
    if roll < 0.95:
        return rng.randint(64 * KiB, 512 * KiB)
    return rng.randint(1 * MiB, 4 * MiB)


def body_of(size: int, rng: random.Random) -> bytes:
    start = rng.randint(0, len(BLOCK) - size) if size < len(BLOCK) else 0
    return BLOCK[start : start + size]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def camp(aws: EmbeddedAws, batch_size: int = 10) -> Sandbox:
    """The camp example (with promote) deployed by infra/ into the embedded AWS."""
    config = read_stack_config(EXAMPLE_STACKS / "Pulumi.dev.yaml")
    config["bucketguard:scanner"]["batchSize"] = batch_size
    (teaching,) = config["bucketguard:storages"]
    config["bucketguard:storages"] = [
        {
            **teaching,
            "actions": ["tag", "quarantine", "promote", "notify"],
            "promoteBucket": f"{teaching['bucket']}-pub",
        }
    ]
    return Sandbox.up(aws, config, stack="dev")


def latency(objects: int, rate: float, batch_size: int) -> None:
    rng = random.Random(7)
    done: dict[str, float] = {}
    with EmbeddedAws() as aws:
        pipe = camp(aws, batch_size)
        pipe.start()
        uploaded: dict[str, tuple[float, str]] = {}
        total_bytes = 0
        s3, bucket = pipe.s3, pipe.storage.bucket
        stop = threading.Event()

        def watch_tags() -> None:  # the post-scan function tags each version it finished
            watcher = pipe.storage.account.client("s3")
            while not stop.is_set():
                for key, (_, version) in list(uploaded.items()):
                    if key in done:
                        continue
                    try:
                        tags = watcher.get_object_tagging(Bucket=bucket, Key=key, VersionId=version)["TagSet"]
                    except Exception:  # quarantined: the version is gone
                        tags = [{"Key": "bucketguard-scan-result"}]
                    if any(t["Key"] == "bucketguard-scan-result" for t in tags):
                        done[key] = time.monotonic()
                stop.wait(0.02)

        watcher = threading.Thread(target=watch_tags, daemon=True)
        watcher.start()
        started = time.monotonic()
        for i in range(objects):
            key = f"bench/{i:05d}.bin"
            # 1 % malicious (quarantined), the rest random bytes (clean, tagged and promoted)
            body = pranks.eicar_nested_zip() if i % 100 == 99 else body_of(mixed_size(rng), rng)
            total_bytes += len(body)
            target = started + i / rate
            time.sleep(max(0.0, target - time.monotonic()))
            version = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
            uploaded[key] = (time.monotonic(), version)
        deadline = time.monotonic() + 600
        while len(done) < objects and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        stop.set()
        pipe.stop()
    lat = [done[k] - uploaded[k][0] for k in uploaded if k in done]
    print(
        f"upload-to-tag latency, scanner batches of {batch_size}, {len(lat)}/{objects} objects "
        f"({total_bytes / MiB:.0f} MiB, mixed sizes), "
        f"uploaded at {rate:g}/s: p50 {percentile(lat, 50) * 1000:.0f} ms, "
        f"p95 {percentile(lat, 95) * 1000:.0f} ms, "
        f"max {max(lat) * 1000:.0f} ms; all done in {elapsed:.1f} s (tags polled every 20 ms)"
    )


def _sqs_batch(requests: list[ScanRequest]) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{i}", "body": r.to_json(), "attributes": {"ApproximateReceiveCount": "1"}}
            for i, r in enumerate(requests)
        ]
    }


def throughput(objects: int, *, small: bool, profile: bool = False) -> None:
    """One worker, the same requests twice: one object after the other (the scanner before batches
    overlapped), then batches of 10 through the scanner function (the next download overlaps the scan)."""
    rng = random.Random(11)
    with EmbeddedAws() as aws:
        pipe = camp(aws)
        st, s3 = pipe.storage, pipe.storage.listener_role.client("s3")
        admin = pipe.s3
        requests = []
        total = 0
        for i in range(objects):
            body = body_of(rng.randint(0, 16 * KiB) if small else mixed_size(rng), rng)
            total += len(body)
            r = admin.put_object(Bucket=st.bucket, Key=f"t/{i}", Body=body)
            url = s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": st.bucket, "Key": f"t/{i}", "VersionId": r["VersionId"]},
                ExpiresIn=600,
            )
            requests.append(
                ScanRequest(
                    str(i),
                    st.bucket,
                    f"t/{i}",
                    r["VersionId"],
                    r["ETag"].strip('"'),
                    len(body),
                    url,
                    st.result_topic_arn,
                    st.name,
                    "",
                )
            )
        # the scanner core in this process, publishing as the deployed scanner's role
        function = next(f for f in pipe.runner.functions if f.kind == "scanner")
        sns = aws.assume(function.role_arn, function.region).client("sns", region_name=function.region)
        scanner = Scanner(ScannerSettings.resolve({}, download_origins=(aws.endpoint_url,)), sns)
        scanner.engine  # noqa: B018 - compile outside the measurement
        phases = _one_by_one_then_overlapped(scanner, requests, aws.server_pid, profile)
        pipe.stop()
    what = "small (0-16 KiB)" if small else "mixed"
    _print_throughput(f"moto, {what} objects", requests, phases)


@dataclass
class Phase:
    """One way of handling the requests: wall seconds, and CPU seconds of the scanner's process and of the
    storage side's (moto's server process; 0 for the stand-ins, which spend none worth counting)."""

    wall: float
    scanner_cpu: float
    storage_cpu: float


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of another process, from /proc."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measured(run: Any, storage_pid: int | None) -> Phase:
    wall, cpu, storage = time.monotonic(), time.process_time(), _process_cpu(storage_pid)
    run()
    return Phase(time.monotonic() - wall, time.process_time() - cpu, _process_cpu(storage_pid) - storage)


AHEAD = (2, 9)  # records running ahead: two (the scanner's), a whole batch of small objects


def _one_by_one_then_overlapped(
    scanner: Scanner, requests: list[ScanRequest], storage_pid: int | None = None, profile: bool = False
) -> list[Phase]:
    """The requests one after the other, then in batches of 10 through the scanner function with each of
    AHEAD records running ahead. The scanner runs on one CPU, as a Lambda of up to 1,769 MB has (the
    storage side keeps the others). `profile`: where the scanner's CPU goes, one by one (every step of a
    record on one thread, which is all cProfile sees)."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})

    def one_by_one() -> None:
        for request in requests:
            scanner.handle_request(request.to_json())

    def overlapped(ahead: int) -> None:
        handler = ScannerFunction(scanner, records_ahead=ahead)
        for first in range(0, len(requests), 10):
            response = handler.handle(_sqs_batch(requests[first : first + 10]))
            assert not response["batchItemFailures"], response

    try:
        profiler = cProfile.Profile() if profile else None
        first = one_by_one if profiler is None else lambda: profiler.runcall(one_by_one)
        phases = [_measured(first, storage_pid)]
        phases += [_measured(lambda ahead=ahead: overlapped(ahead), storage_pid) for ahead in AHEAD]
    finally:
        os.sched_setaffinity(0, cpus)
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print("  scanner profile, one by one, by own time:")
        print("\n".join("    " + line for line in out.getvalue().splitlines()[4:] if line.strip()))
    return phases


def _print_throughput(label: str, requests: list[ScanRequest], phases: list[Phase]) -> None:
    count, total = len(requests), sum(r.size for r in requests)
    hows = ["one by one", *(f"batches of 10, {ahead} records ahead" for ahead in AHEAD)]
    for how, phase in zip(hows, phases, strict=True):
        print(
            f"scanner throughput, one worker on one CPU, {label}, {how}: {count / phase.wall:.1f} objects/s, "
            f"{total / MiB / phase.wall:.2f} MiB/s over {count} objects ({total / MiB:.1f} MiB; download, "
            f"scan, publish), {1000 * phase.wall / count:.1f} ms per object; CPU per object: scanner "
            f"{1000 * phase.scanner_cpu / count:.1f} ms, storage side "
            f"{1000 * phase.storage_cpu / count:.1f} ms"
        )
    overlapped = zip(AHEAD, phases[1:], strict=True)
    ratios = ", ".join(f"{ahead} ahead {phases[0].wall / phase.wall:.2f}x" for ahead, phase in overlapped)
    print(f"  batches / one by one: {ratios}")


class _DelayedTopic:
    """SNS Publish answering after a fixed round trip."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def publish(self, **request: Any) -> dict[str, str]:
        time.sleep(self.seconds)
        return {"MessageId": "0"}


def round_trips(objects: int, milliseconds: float, *, sns_on_moto: bool = False) -> None:
    """The same comparison with S3 answering after a fixed round trip and costing no CPU here, and SNS
    either the same (moto spends more CPU per object than the scanner on the same machine: this is what
    bounds small objects in Lambda) or moto's (a real boto3 Publish, its CPU in the scanner counted)."""
    from tests.range_server import RangeHandler, StoredBytes, serve  # answers ranged GETs as S3 does

    seconds = milliseconds / 1000

    class Delayed(RangeHandler):
        def do_GET(self) -> None:
            time.sleep(seconds)
            super().do_GET()

    rng = random.Random(13)
    Delayed.objects, Delayed.requests = {}, []
    server = serve(Delayed)
    origin = next(server)
    with EmbeddedAws() as aws:
        if sns_on_moto:
            sns: Any = aws.account(STORAGE_ACCOUNT).client("sns")
            topic = sns.create_topic(Name="results")["TopicArn"]
        else:
            sns, topic = _DelayedTopic(seconds), "arn:aws:sns:eu-west-1:123456789012:results"
        requests = []
        for i in range(objects):
            body = body_of(rng.randint(0, 16 * KiB), rng)
            Delayed.objects[f"/camp/t/{i}"] = StoredBytes(body)
            url = f"{origin}/camp/t/{i}?versionId=v{i}&X-Amz-Signature=x"
            requests.append(
                ScanRequest(str(i), "camp", f"t/{i}", f"v{i}", "", len(body), url, topic, "s", "")
            )
        scanner = Scanner(ScannerSettings.resolve({}, download_origins=(origin,)), sns)
        scanner.engine  # noqa: B018 - compile outside the measurement
        pid = aws.server_pid if sns_on_moto else None
        phases = _one_by_one_then_overlapped(scanner, requests, pid)
    server.close()  # type: ignore[attr-defined]
    publish = "moto's SNS" if sns_on_moto else f"SNS at {milliseconds:g} ms"
    label = f"S3 at {milliseconds:g} ms round trips, {publish}, small objects"
    _print_throughput(label, requests, phases)
    print(f"  GETs per object: {len(Delayed.requests) / ((1 + len(AHEAD)) * objects):.2f}")


CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bucketguard.pipeline.lambda_functions import ScannerFunction
from bucketguard.pipeline.messages import ScanRequest
from bucketguard.pipeline.scanner import Scanner
from bucketguard.pipeline.settings import ScannerSettings
url, size = sys.argv[1], int(sys.argv[2])
def hwm():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's peak across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
origin = url.rsplit("/", 1)[0]
scanner = Scanner(ScannerSettings.resolve({}, download_origins=(origin,), max_object_bytes=size), sns=None)
scanner.engine
before = hwm()
started = time.monotonic()
result = scanner.scan(ScanRequest("r", "b", "big.bin", "v", "", size, url, "t", "s", ""))
print(json.dumps({"verdict": result.verdict.value, "reason": result.reason and result.reason.value,
                  "seconds": time.monotonic() - started, "rss_before_kib": before,
                  "rss_peak_kib": hwm(),
                  "backend": scanner.engine.backend}))
"""


def big_object_rss(gib: float) -> None:
    from tests.range_server import Pieces, RangeHandler, serve  # answers ranged GETs as S3 does

    size = int(gib * 1024**3)
    RangeHandler.objects = {"/big.bin": Pieces(size, BLOCK, etag="")}
    server = serve(RangeHandler)
    url = f"{next(server)}/big.bin"
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(size), root], capture_output=True, text=True, check=True
    )
    server.close()
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"scanner on a {gib:g} GiB object ({figures['backend']}): verdict {figures['verdict']}, "
        f"{figures['seconds']:.1f} s ({size / MiB / figures['seconds']:.0f} MiB/s), peak RSS "
        f"{figures['rss_peak_kib'] / 1024:.0f} MiB "
        f"(after compiling rules: {figures['rss_before_kib'] / 1024:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=25.0, help="uploads per second for the latency run")
    parser.add_argument("--throughput-objects", type=int, default=1000)
    parser.add_argument("--round-trip-ms", type=float, default=20.0, help="S3 GET and SNS Publish stand-ins")
    parser.add_argument("--big-gib", type=float, default=2.0)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--only-big", action="store_true")
    parser.add_argument("--only-throughput", action="store_true", help="the worker throughput runs alone")
    parser.add_argument("--profile", action="store_true", help="profile the scanner's batches on moto")
    args = parser.parse_args()
    logging.getLogger("bucketguard").setLevel(logging.CRITICAL)
    print(f"machine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    if not (args.only_big or args.only_throughput):
        for batch_size in (1, 10):
            latency(args.objects, args.rate, batch_size)
    if not args.only_big:
        throughput(args.throughput_objects, small=True, profile=args.profile)
        if not args.only_throughput:
            throughput(args.throughput_objects, small=False)
        round_trips(args.throughput_objects, args.round_trip_ms)
        round_trips(args.throughput_objects, args.round_trip_ms, sns_on_moto=True)
    if not (args.skip_big or args.only_throughput):
        big_object_rss(args.big_gib)


if __name__ == "__main__":
    main()
