"""Pipeline figures on the embedded AWS (a script, not a test): prints what it measures.

1. upload-to-tag latency (p50, p95) for N objects of mixed sizes, uploaded at a steady rate through the camp
   example deployed by infra/ (listener -> scanner -> post-scan, one process each, as one Lambda instance);
   once with the scanner taking one request per invocation (batch size 1), once with batches of 10;
2. scanner throughput per worker (presigned download + scan + publish, objects/s and MB/s), 1,000 small and
   1,000 mixed objects, one by one (a Publish each) and in batches of 10 (the next downloads overlapping the
   scan, one PublishBatch a batch), against moto and against stand-ins answering after a fixed round trip,
   with the calls per object and the CPU per object of the scanner and of moto's server; a summary last;
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
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bucketguard.demo import pranks
from bucketguard.pipeline import download
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


def _logged(workdir: Path, function: str, message: str) -> dict[str, float]:
    """Key -> when (epoch seconds) the deployed function logged `message` about it, from its JSON log."""
    when: dict[str, float] = {}
    for path in workdir.glob(f"*-{function}-function-*.log"):
        for line in path.read_text().splitlines():
            if f'"message":"{message}"' not in line.replace(": ", ":"):
                continue
            record = json.loads(line)
            stamp = datetime.strptime(record["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z")
            when.setdefault(record["key"], stamp.timestamp())
    return when


def latency(objects: int, rate: float, batch_size: int) -> None:
    """Upload-to-tag: from each upload to the post-scan function's "post-scan done" log line for the object
    (tagged, and quarantined or promoted), with the scanner's "scanned" line between: read from the
    functions' own logs, not by polling S3 (a poll of every pending object through moto took seconds a pass,
    and was measured instead)."""
    rng = random.Random(7)
    with EmbeddedAws() as aws:
        pipe = camp(aws, batch_size)
        pipe.start()
        uploaded: dict[str, float] = {}
        total_bytes = 0
        s3, bucket = pipe.s3, pipe.storage.bucket
        started = time.monotonic()
        for i in range(objects):
            key = f"bench/{i:05d}.bin"
            # 1 % malicious (quarantined), the rest random bytes (clean, tagged and promoted)
            body = pranks.eicar_nested_zip() if i % 100 == 99 else body_of(mixed_size(rng), rng)
            total_bytes += len(body)
            target = started + i / rate
            time.sleep(max(0.0, target - time.monotonic()))
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            uploaded[key] = time.time()
        deadline = time.monotonic() + 600
        while len(done := _logged(pipe.workdir, "postscan", "post-scan done")) < objects:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        scanned = _logged(pipe.workdir, "scanner", "scanned")
        deliveries = {
            source.function_name.split("-function-")[0]: source.records for source in pipe.runner.sources
        }
        pipe.stop()
    lat = [done[k] - uploaded[k] for k in uploaded if k in done]
    to_scan = [scanned[k] - uploaded[k] for k in uploaded if k in scanned]
    print(
        f"upload-to-tag latency, scanner batches of {batch_size}, {len(lat)}/{objects} objects "
        f"({total_bytes / MiB:.0f} MiB, mixed sizes), "
        f"uploaded at {rate:g}/s: p50 {percentile(lat, 50) * 1000:.0f} ms, "
        f"p95 {percentile(lat, 95) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
        f"(upload to the scanner's verdict: p50 {percentile(to_scan, 50) * 1000:.0f} ms, "
        f"p95 {percentile(to_scan, 95) * 1000:.0f} ms); all done in {elapsed:.1f} s; messages delivered, "
        f"counting redeliveries: {deliveries}"
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
        sns = count_sns_calls(
            aws.assume(function.role_arn, function.region).client("sns", region_name=function.region)
        )
        scanner = Scanner(ScannerSettings.resolve({}, download_origins=(aws.endpoint_url,)), sns)
        scanner.engine  # noqa: B018 - compile outside the measurement
        phases = _one_by_one_and_batches(scanner, requests, aws.server_pid, profile)
        pipe.stop()
    what = "small (0-16 KiB)" if small else "mixed"
    _print_throughput(f"moto, {what} objects", requests, phases)


@dataclass
class Phase:
    """One way of handling the requests: wall seconds, CPU seconds of the scanner's process and of the
    storage side's (moto's server process; 0 for the stand-ins, which spend none worth counting), and the
    calls the scanner made: presigned GETs (every request of its connection pools) and SNS calls."""

    wall: float
    scanner_cpu: float
    storage_cpu: float
    gets: int
    sns_calls: int


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of another process, from /proc."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _gets() -> int:
    """Requests sent through the scanner's connection pools so far (its presigned GETs)."""
    pools = [manager.pools[key] for manager in download._POOLS.values() for key in manager.pools.keys()]  # noqa: SIM118 (iterating it raises)
    return sum(pool.num_requests for pool in pools)


SNS_CALLS: list[str] = []  # every SNS call of the scanner: a boto3 event hook, or the stand-in itself


def count_sns_calls(client: Any) -> Any:
    client.meta.events.register("before-parameter-build.sns", lambda model, **_: SNS_CALLS.append(model.name))
    return client


def _measured(run: Any, storage_pid: int | None) -> Phase:
    wall, cpu, storage = time.monotonic(), time.process_time(), _process_cpu(storage_pid)
    gets, calls = _gets(), len(SNS_CALLS)
    run()
    return Phase(
        time.monotonic() - wall,
        time.process_time() - cpu,
        _process_cpu(storage_pid) - storage,
        _gets() - gets,
        len(SNS_CALLS) - calls,
    )


def _sum(phases: list[Phase]) -> Phase:
    return Phase(*(sum(getattr(p, name) for p in phases) for name in Phase.__dataclass_fields__))


SLICES = 10


def _one_by_one_and_batches(
    scanner: Scanner, requests: list[ScanRequest], storage_pid: int | None = None, profile: bool = False
) -> list[Phase]:
    """Every request handled twice: one after the other, each verdict published on its own (the scanner
    before batches), and in batches of 10 through the scanner function (two records ahead, one PublishBatch
    a batch). The two take turns over SLICES slices of the requests, each going first in half of them:
    moto's server spends more CPU per request the more it has served (13 -> 31 -> 38 ms per object over
    three passes of 300 objects in one run, whatever the mode), so a mode measured after the other would pay
    for it. The scanner runs on one CPU, as a Lambda of up to 1,769 MB has (the storage side keeps the
    others). `profile`: where the scanner's CPU goes in batches (cProfile sees the main thread only: the
    publishing and the waits; the records' own work runs on the records-ahead threads)."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    profiler = cProfile.Profile() if profile else None

    def one_by_one(part: list[ScanRequest]) -> None:
        for request in part:
            scanner.handle_request(request.to_json())

    def batches(part: list[ScanRequest]) -> None:
        handler = ScannerFunction(scanner)
        for first in range(0, len(part), 10):
            response = handler.handle(_sqs_batch(part[first : first + 10]))
            assert not response["batchItemFailures"], response

    def profiled(part: list[ScanRequest]) -> None:
        assert profiler is not None
        profiler.runcall(batches, part)

    step = -(-len(requests) // SLICES // 10) * 10  # whole batches
    measured: tuple[list[Phase], list[Phase]] = ([], [])
    try:
        for turn, first in enumerate(range(0, len(requests), step)):
            part = requests[first : first + step]
            modes = [(0, one_by_one), (1, profiled if profiler else batches)]
            for mode, run in modes if turn % 2 == 0 else modes[::-1]:
                measured[mode].append(_measured(lambda run=run, part=part: run(part), storage_pid))
    finally:
        os.sched_setaffinity(0, cpus)
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print("  scanner profile, batches, main thread, by own time:")
        print("\n".join("    " + line for line in out.getvalue().splitlines()[4:] if line.strip()))
    return [_sum(measured[0]), _sum(measured[1])]


BEFORE_BATCHES = 24.9  # objects/s one worker scanned before batches (README), the goal's base
SUMMARY: list[tuple[str, list[Phase], int]] = []


def _print_throughput(label: str, requests: list[ScanRequest], phases: list[Phase]) -> None:
    count, total = len(requests), sum(r.size for r in requests)
    for how, phase in zip(("one by one", "batches of 10"), phases, strict=True):
        print(
            f"scanner throughput, one worker on one CPU, {label}, {how}: {count / phase.wall:.1f} objects/s, "
            f"{total / MiB / phase.wall:.2f} MiB/s over {count} objects ({total / MiB:.1f} MiB; download, "
            f"scan, publish), {1000 * phase.wall / count:.1f} ms per object; CPU per object: scanner "
            f"{1000 * phase.scanner_cpu / count:.1f} ms, storage side "
            f"{1000 * phase.storage_cpu / count:.1f} ms; "
            f"calls per object: {phase.gets / count:.2f} GET, {phase.sns_calls / count:.2f} SNS"
        )
    print(f"  batches / one by one: {phases[0].wall / phases[1].wall:.2f}x")
    SUMMARY.append((label, phases, count))


def _print_summary() -> None:
    print(f"\nsummary (objects/s of one worker; goal: 2x the {BEFORE_BATCHES} objects/s before batches):")
    for label, (one, batch), count in SUMMARY:
        print(
            f"  {label}: one by one {count / one.wall:.1f}, batches {count / batch.wall:.1f} "
            f"({count / batch.wall / BEFORE_BATCHES:.2f}x {BEFORE_BATCHES}); in batches, CPU per object "
            f"scanner {1000 * batch.scanner_cpu / count:.1f} ms, storage side "
            f"{1000 * batch.storage_cpu / count:.1f} ms; calls per object {batch.gets / count:.2f} GET + "
            f"{batch.sns_calls / count:.2f} SNS (one by one: {one.gets / count:.2f} + "
            f"{one.sns_calls / count:.2f})"
        )


class _DelayedTopic:
    """SNS Publish and PublishBatch answering after a fixed round trip."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def publish(self, **request: Any) -> dict[str, str]:
        SNS_CALLS.append("Publish")
        time.sleep(self.seconds)
        return {"MessageId": "0"}

    def publish_batch(self, **request: Any) -> dict[str, Any]:
        SNS_CALLS.append("PublishBatch")
        time.sleep(self.seconds)
        entries = request["PublishBatchRequestEntries"]
        return {"Successful": [{"Id": e["Id"], "MessageId": "0"} for e in entries], "Failed": []}


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
    Delayed.objects = {}
    server = serve(Delayed)
    origin = next(server)
    with EmbeddedAws() as aws:
        if sns_on_moto:
            sns: Any = count_sns_calls(aws.account(STORAGE_ACCOUNT).client("sns"))
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
        phases = _one_by_one_and_batches(scanner, requests, pid)
    server.close()  # type: ignore[attr-defined]
    publish = "moto's SNS" if sns_on_moto else f"SNS at {milliseconds:g} ms"
    label = f"S3 at {milliseconds:g} ms round trips, {publish}, small objects"
    _print_throughput(label, requests, phases)


CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bucketguard.pipeline import download
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
    parser.add_argument("--only-latency", action="store_true", help="the upload-to-tag runs alone")
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[1, 10], help="latency runs' batch sizes"
    )
    parser.add_argument("--profile", action="store_true", help="profile the scanner's batches on moto")
    args = parser.parse_args()
    logging.getLogger("bucketguard").setLevel(logging.CRITICAL)
    print(f"machine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, load average {_load()}")
    if not (args.only_big or args.only_throughput):
        for batch_size in args.batch_sizes:
            latency(args.objects, args.rate, batch_size)
    if not (args.only_big or args.only_latency):
        throughput(args.throughput_objects, small=True, profile=args.profile)
        if not args.only_throughput:
            throughput(args.throughput_objects, small=False)
        round_trips(args.throughput_objects, args.round_trip_ms)
        round_trips(args.throughput_objects, args.round_trip_ms, sns_on_moto=True)
        _print_summary()
    if not (args.skip_big or args.only_throughput or args.only_latency):
        big_object_rss(args.big_gib)
    print(f"load average at the end: {_load()}")


def _load() -> str:
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


if __name__ == "__main__":
    main()
