"""Match workers (bucketguard.scanning.workers): the same results as one process, failures never clean.

Each scenario runs in a fresh interpreter: the pool forks only from a process running one thread, and a
pytest-xdist worker runs two (execnet's), so the engine would rightly refuse to fork here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.engine import _batches, _windows
from bucketguard.scanning.workers import usable_cpus
from tests.processes import assert_ended

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, os, signal, sys, threading
from pathlib import Path
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.ruleset import load_ruleset

def view(result):
    found = result.to_dict()
    found.pop("duration_ms")
    return found

class FileSource:
    '''A file read by offset, as the scanner reads an S3 object; `on_read(n)` runs before the n-th read.'''
    failure = None

    def __init__(self, path, on_read=lambda reads: None):
        self.path, self.size, self.on_read, self.reads = path, path.stat().st_size, on_read, 0

    def read_into(self, into, offset):
        self.on_read(self.reads)
        self.reads += 1
        with self.path.open("rb") as stream:
            stream.seek(offset)
            stream.readinto(into)

    def read_at(self, offset, size):
        with self.path.open("rb") as stream:
            stream.seek(offset)
            return stream.read(size)

def children():
    try:
        return os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return "none"
"""


def run_isolated(code: str, *args: str, timeout: float | None = None) -> Any:
    """`code` run after PRELUDE in a fresh interpreter; the JSON of its last line of output. `timeout`
    bounds a scenario that would otherwise hang (not a measure of speed)."""
    completed = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.splitlines()[-1])


needs_two_cpus = pytest.mark.skipif(usable_cpus() < 2, reason="one CPU: the engine forks no worker")


@pytest.fixture
def windowed_file(tmp_path: Path) -> tuple[Path, Path]:
    """Three windows of random bytes: one marker straddling the end of the first window (found in the
    second), one in the last window only; and the rules that find them, beside the bundled ones."""
    rules = tmp_path / "rules"
    rules.mkdir()
    markers = {"Straddles_Window_End": b"camp-straddling-marker", "In_Last_Window": b"camp-last-marker"}
    (rules / "windows.yar").write_text(
        "".join(
            f'rule {rule} {{ strings: $m = "{m.decode()}" condition: $m }}\n' for rule, m in markers.items()
        )
    )
    size = 2 * (31 << 20) + (5 << 20)
    starts, length = _windows(size)
    assert len(starts) == 3
    data = bytearray(os.urandom(size))
    straddle = length - len(markers["Straddles_Window_End"]) // 2
    data[straddle : straddle + len(markers["Straddles_Window_End"])] = markers["Straddles_Window_End"]
    data[size - 100 : size - 100 + len(markers["In_Last_Window"])] = markers["In_Last_Window"]
    path = tmp_path / "poster.bin"
    path.write_bytes(data)
    return path, rules


@pytest.mark.slow
@needs_two_cpus
def test_windows_matched_by_workers_equal_the_serial_scan(windowed_file: tuple[Path, Path]) -> None:
    path, rules = windowed_file
    found = run_isolated(
        """
        path, rules = Path(sys.argv[1]), Path(sys.argv[2])
        engine = Engine(load_ruleset([rules]))
        serial = [view(engine.scan_file(path, name="poster.bin")),
                  view(engine.scan_source(FileSource(path), name="poster.bin"))]
        workers = engine.start_workers(2)
        parallel = [view(engine.scan_file(path, name="poster.bin")),
                    view(engine.scan_source(FileSource(path), name="poster.bin"))]
        print(json.dumps({"workers": workers, "serial": serial, "parallel": parallel}))
        """,
        str(path),
        str(rules),
    )
    assert found["workers"] == 2
    assert found["parallel"] == found["serial"]
    for result in found["parallel"]:
        assert sorted(f["rule"] for f in result["findings"]) == ["In_Last_Window", "Straddles_Window_End"]
        assert result["size"] == path.stat().st_size


@pytest.mark.slow
@needs_two_cpus
def test_many_files_through_workers_equal_the_serial_scans_in_order(
    tmp_path: Path, windowed_file: tuple[Path, Path]
) -> None:
    # A file of several windows among them is scanned by the parent, its windows matched by the workers.
    poster, rules = windowed_file
    files = [poster]
    for index, sample in enumerate(pranks.all_samples()):
        files.append(tmp_path / f"{index:03d}-{sample.key.replace('/', '_')}")
        files[-1].write_bytes(sample.data)
    files += [tmp_path / "missing.txt", tmp_path, poster]  # unscannable: no such file, a directory
    found = run_isolated(
        """
        paths = [Path(path) for path in sys.argv[2:]]
        names = [f"upload/{path.name}" for path in paths]
        engine = Engine(load_ruleset([Path(sys.argv[1])]))
        serial = [view(result) for result in engine.scan_files(paths, names=names)]
        workers = engine.start_workers(2)
        parallel = [view(result) for result in engine.scan_files(paths, names=names)]
        print(json.dumps({"workers": workers, "serial": serial, "parallel": parallel}))
        """,
        str(rules),
        *map(str, files),
    )
    assert found["workers"] == 2
    assert found["parallel"] == found["serial"]
    verdicts = {result["verdict"] for result in found["parallel"]}
    assert {"clean", "malicious", "unscannable"} <= verdicts
    for poster_result in (found["parallel"][0], found["parallel"][-1]):
        assert sorted(f["rule"] for f in poster_result["findings"]) == [
            "In_Last_Window",
            "Straddles_Window_End",
        ]


KILL_MID_SCAN = """
engine = Engine(load_ruleset())
path, eicar = Path(sys.argv[1]), Path(sys.argv[2])
engine.start_workers(2)
pids = engine._workers.pids

def stop_workers(reads):
    if reads == 1:  # the first window is with a worker: the second is being read
        for pid in pids:
            os.kill(pid, getattr(signal, sys.argv[3]))

failed = view(engine.scan_source(FileSource(path, stop_workers), name="poster.bin"))
left = children()
alone = view(engine.scan_file(eicar, name="eicar.com"))  # no worker left: scanned in this process
refilled = engine.start_workers(2)
again = view(engine.scan_file(path, name="poster.bin"))
engine.close()
print(json.dumps({"failed": failed, "left": left, "alone": alone, "refilled": refilled, "again": again,
                  "after_close": children()}))
"""


@pytest.mark.slow
@needs_two_cpus
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGSTOP"])
def test_a_worker_killed_or_hung_mid_scan_makes_the_object_an_error_never_clean(
    windowed_file: tuple[Path, Path], tmp_path: Path, signal_name: str
) -> None:
    # SIGSTOP: a worker that stops making progress (no CPU, no reply) is killed after the stall limit.
    path, _ = windowed_file
    eicar = tmp_path / "eicar.com"
    eicar.write_bytes(pranks.eicar())
    code = KILL_MID_SCAN.replace("engine.start_workers(2)", "engine.start_workers(2, stall_seconds=1)")
    found = run_isolated(code, str(path), str(eicar), signal_name)
    failed = found["failed"]
    assert (failed["verdict"], failed["reason"]) == ("error", "internal_error"), failed
    assert "match worker" in failed["detail"]
    assert found["left"] == "none"  # every worker reaped: no zombie
    assert found["alone"]["verdict"] == "malicious"
    assert found["refilled"] == 2
    assert found["again"]["verdict"] == "clean"
    assert found["again"]["sha256"] is not None
    assert found["after_close"] == "none"


@needs_two_cpus
def test_a_worker_answering_garbage_fails_its_files_and_windows(tmp_path: Path) -> None:
    eicar = tmp_path / "eicar.com"
    eicar.write_bytes(pranks.eicar())
    big = tmp_path / "big.bin"
    big.write_bytes(pranks.eicar() + bytes(40 << 20))
    found = run_isolated(
        """
        from bucketguard.scanning.engine import _SLOT_BYTES
        from bucketguard.scanning.workers import fork_workers
        answers = {"files": [{"target": "eicar.com", "verdict": "harmless"}], "window": {"matches": "none"}}
        lie = lambda task, slots: answers["files" if "files" in task else "window"]
        found = {}
        for what in ("files", "window"):  # each its own pool: the first leaves no worker alive
            engine = Engine(load_ruleset())
            engine._workers = fork_workers(2, lie, slots=3, slot_bytes=_SLOT_BYTES)
            if what == "files":
                files = [Path(sys.argv[1])] * 2
                found["files"] = [view(r) for r in engine.scan_files(files, names=["eicar.com", "again.com"])]
            else:
                found["window"] = view(engine.scan_file(Path(sys.argv[2]), name="big.bin"))
        print(json.dumps(found | {"left": children()}))
        """,
        str(eicar),
        str(big),
    )
    for result in [*found["files"], found["window"]]:
        assert (result["verdict"], result["reason"]) == ("error", "internal_error"), result
        assert "garbage" in result["detail"]
    assert found["left"] == "none"


@needs_two_cpus
def test_workers_and_the_programs_they_run_hold_no_aws_credentials_and_gain_no_privileges() -> None:
    found = run_isolated(
        """
        import subprocess
        from bucketguard.scanning.workers import fork_workers
        os.environ.update(
            AWS_ACCESS_KEY_ID="AKIACAMPEXAMPLE", AWS_SECRET_ACCESS_KEY="camp-secret",
            AWS_SESSION_TOKEN="camp-token", AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001",
        )

        def inspect(task, slots):
            program = subprocess.run(["env"], capture_output=True, text=True, check=True).stdout
            status = Path("/proc/self/status").read_text().splitlines()
            return {
                "worker": sorted(name for name in os.environ if name.startswith("AWS_")),
                "program": sorted(line for line in program.splitlines() if line.startswith("AWS_")),
                "no_new_privs": [line.split()[1] for line in status if line.startswith("NoNewPrivs:")],
            }

        pool = fork_workers(2, inspect, slots=1, slot_bytes=4096)
        replies = []
        with pool.session() as session:
            session.submit({}, replies.append, replies.append)
        pool.close()
        print(json.dumps({"reply": replies[0], "parent": [n for n in os.environ if n.startswith("AWS_")]}))
        """
    )
    assert found["reply"] == {"worker": [], "program": [], "no_new_privs": ["1"]}
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_LAMBDA_RUNTIME_API"} <= set(found["parent"])  # its own, kept


@needs_two_cpus
def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            PRELUDE + "engine = Engine(load_ruleset()); engine.start_workers(2)\n"
            "print(json.dumps(engine._workers.pids), flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # the workers' directory: killed, nobody removes it
    )
    assert completed.returncode == -9, completed.stderr
    pids = json.loads(completed.stdout)
    assert len(pids) == 2
    assert_ended(pids)


def test_no_fork_with_one_cpu_or_while_another_thread_runs(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_bytes(pranks.clean_js())
    (tmp_path / "b.com").write_bytes(pranks.eicar())
    found = run_isolated(
        """
        import runpy
        forks = []
        os.register_at_fork(before=lambda: forks.append(1))
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        sys.argv = ["bucketguard", "scan", "--format", "json", sys.argv[1]]
        try:
            runpy.run_module("bucketguard", run_name="__main__")
        except SystemExit as exit:
            status = exit.code
        engine = Engine(load_ruleset())
        threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start()
        print(json.dumps({"status": status, "forks": len(forks), "with_a_thread": engine.start_workers(2)}))
        """,
        str(tmp_path),
    )
    assert found == {"status": 1, "forks": 0, "with_a_thread": 0}


@needs_two_cpus
def test_the_cli_scans_on_several_cores_without_dev_shm(tmp_path: Path) -> None:
    # AWS Lambda has no /dev/shm, so POSIX semaphores (multiprocessing's Pool, Queue, Lock) fail there.
    if os.geteuid() != 0 or not Path("/usr/bin/unshare").exists():
        pytest.skip("needs root and unshare to hide /dev/shm")
    (tmp_path / "a.js").write_bytes(pranks.clean_js())
    (tmp_path / "b.com").write_bytes(pranks.eicar())
    code = """
        import multiprocessing, runpy
        try:
            multiprocessing.Lock()
            semaphores = "work"
        except OSError:
            semaphores = "fail"
        forks = []
        os.register_at_fork(before=lambda: forks.append(1))
        sys.argv = ["bucketguard", "scan", "--format", "json", sys.argv[1]]
        try:
            runpy.run_module("bucketguard", run_name="__main__")
        except SystemExit as exit:
            status = exit.code
        print(json.dumps({"semaphores": semaphores, "forks": len(forks), "status": status}))
        """
    hide_shm = 'mount -t tmpfs -o ro,size=4k tmpfs /dev/shm && exec "$@"'
    script = PRELUDE + textwrap.dedent(code)
    completed = subprocess.run(
        ["unshare", "--mount", "sh", "-c", hide_shm, "sh", sys.executable, "-c", script, str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    if "Operation not permitted" in completed.stderr:
        pytest.skip("no mount namespace here")
    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads("\n".join(lines[:-1]))
    assert json.loads(lines[-1]) == {"semaphores": "fail", "forks": 2, "status": 1}
    assert [r["verdict"] for r in document["results"]] == ["clean", "malicious"]


def test_usable_cpus_follow_a_lambda_functions_memory() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert usable_cpus({}) == cpus
    assert usable_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"}) == 1  # 1.16 vCPU: no worker
    assert usable_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"}) == min(cpus, 2)
    assert usable_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}) == 1


@pytest.mark.slow
@needs_two_cpus
def test_an_interrupted_scan_waits_for_no_worker(windowed_file: tuple[Path, Path]) -> None:
    # The workers are stopped and the stall limit is an hour: a scan that waited for them would not end.
    path, _ = windowed_file
    found = run_isolated(
        """
        # Ctrl-C raises KeyboardInterrupt even where this test's runner was started in the background,
        # which makes a child inherit SIGINT ignored (and Python then installs no handler for it).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        engine = Engine(load_ruleset())
        engine.start_workers(2, stall_seconds=3600)
        pids = engine._workers.pids

        def interrupt(reads):
            if reads == 1:
                for pid in pids:
                    os.kill(pid, signal.SIGSTOP)
                os.kill(os.getpid(), signal.SIGINT)

        try:
            engine.scan_source(FileSource(Path(sys.argv[1]), interrupt), name="poster.bin")
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        workers = len(engine._workers)
        engine.close()
        print(json.dumps({"interrupted": interrupted, "workers": workers, "left": children()}))
        """,
        str(path),
        timeout=300,
    )
    # The worker matching the first window was killed; the other, idle, was held by no scan.
    assert found == {"interrupted": True, "workers": 1, "left": "none"}


# A stand-in for 7-Zip: it spends `BURN` seconds of CPU (its own, not the worker's) before it extracts
# EICAR, as the real program does on a large installer.
SLOW_SEVEN_ZIP = """#!{python}
import sys, time
from pathlib import Path
Path(sys.argv[0] + ".pid").write_text(str(__import__("os").getpid()))
while time.process_time() < {burn}:
    pass
out = next(Path(argument[2:]) for argument in sys.argv if argument.startswith("-o"))
out.mkdir(parents=True)
(out / "eicar.com").write_bytes({eicar!r})
"""


@needs_two_cpus
def test_a_worker_waiting_on_7zip_that_works_is_not_taken_for_hung(tmp_path: Path) -> None:
    # The worker uses no CPU while 7-Zip extracts: the program's CPU time is its progress too, or the
    # worker is killed and every file of its task is an error where one process finds the EICAR inside.
    programs = tmp_path / "bin"
    programs.mkdir()
    seven_zip = programs / "7zz"
    seven_zip.write_text(SLOW_SEVEN_ZIP.format(python=sys.executable, burn=4, eicar=pranks.eicar()))
    seven_zip.chmod(0o755)
    chm = tmp_path / "manual.chm"
    chm.write_bytes(b"ITSF" + bytes(200))
    clean = tmp_path / "notes.txt"
    clean.write_text("nothing to see")
    found = run_isolated(
        """
        os.environ["PATH"] = sys.argv[1] + os.pathsep + os.environ["PATH"]
        paths = [Path(path) for path in sys.argv[2:]]
        names = [path.name for path in paths]
        engine = Engine(load_ruleset())
        serial = [view(result) for result in engine.scan_files(paths, names=names)]
        engine.start_workers(2, stall_seconds=2)
        parallel = [view(result) for result in engine.scan_files(paths, names=names)]
        print(json.dumps({"serial": serial, "parallel": parallel, "workers": len(engine._workers)}))
        """,
        str(programs),
        str(chm),
        str(clean),
    )
    assert found["serial"][0]["verdict"] == "malicious", found["serial"][0]
    assert found["parallel"] == found["serial"]
    assert found["workers"] == 2  # none was killed


@needs_two_cpus
def test_7zip_dies_with_the_worker_running_it_and_what_they_wrote_is_removed(tmp_path: Path) -> None:
    # A worker killed (a failure, an interrupted scan) while 7-Zip extracts must not leave the program
    # running on its own, writing the archive's members out for up to its CPU limit, nor leave what they
    # wrote in the temporary directory once workers are replaced or stopped.
    programs = tmp_path / "bin"
    programs.mkdir()
    seven_zip = programs / "7zz"
    seven_zip.write_text(SLOW_SEVEN_ZIP.format(python=sys.executable, burn=3600, eicar=b""))
    seven_zip.chmod(0o755)
    chm = tmp_path / "manual.chm"
    chm.write_bytes(b"ITSF" + bytes(200))
    clean = tmp_path / "notes.txt"
    clean.write_text("nothing to see")
    pid_file = Path(f"{seven_zip}.pid")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    try:
        found = run_isolated(
            """
            import tempfile, time
            tempfile.tempdir = sys.argv[4]
            os.environ["PATH"] = sys.argv[1] + os.pathsep + os.environ["PATH"]
            pid_file = Path(sys.argv[1]) / "7zz.pid"
            engine = Engine(load_ruleset())
            engine.start_workers(2)

            def kill_its_worker():
                while not pid_file.exists() or not pid_file.read_text():
                    time.sleep(0.05)
                program = int(pid_file.read_text())
                worker = int(Path(f"/proc/{program}/stat").read_text().rsplit(")", 1)[1].split()[1])
                os.kill(worker, signal.SIGKILL)

            threading.Thread(target=kill_its_worker, daemon=True).start()
            results = engine.scan_files(sys.argv[2:4], names=["manual.chm", "notes.txt"])
            program = int(pid_file.read_text())
            for _ in range(200):  # it dies as its worker did, or never
                state = Path(f"/proc/{program}/stat").read_text().rsplit(")", 1)[1].split()[0] \\
                    if Path(f"/proc/{program}").exists() else "gone"
                if state in ("Z", "gone"):
                    break
                time.sleep(0.05)
            left = lambda: sorted(str(p.relative_to(sys.argv[4])) for p in Path(sys.argv[4]).rglob("*"))
            engine.start_workers(2)  # the failed worker replaced: what it wrote is removed
            replaced = left()
            engine.close()
            print(json.dumps({"first": view(results[0]), "program": state, "replaced": replaced,
                              "closed": left()}))
            """,
            str(programs),
            str(chm),
            str(clean),
            str(temporary),
            timeout=120,
        )
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert found["first"]["verdict"] == "error"
    assert found["program"] in ("Z", "gone")
    assert len(found["replaced"]) <= 1, found["replaced"]  # the workers' own directory, empty
    assert found["closed"] == []


@needs_two_cpus
def test_no_room_for_the_workers_directory_leaves_the_scan_in_one_process(tmp_path: Path) -> None:
    eicar = tmp_path / "eicar.com"
    eicar.write_bytes(pranks.eicar())
    found = run_isolated(
        """
        engine = Engine(load_ruleset(), work_dir=Path(sys.argv[1]) / "missing")
        workers = engine.start_workers(2)
        print(json.dumps({"workers": workers, "result": view(engine.scan_file(Path(sys.argv[2])))}))
        """,
        str(tmp_path),
        str(eicar),
    )
    assert found["workers"] == 0
    assert found["result"]["verdict"] == "malicious"


def mixed_directory(root: Path) -> Path:
    """Every prank (archives among them), plain files in a subdirectory, and entries no scan may open or
    follow: a broken link, a named pipe, a link to a directory."""
    directory = root / "uploads"
    (directory / "notes").mkdir(parents=True)
    for index, sample in enumerate(pranks.all_samples()):
        (directory / f"{index:03d}-{sample.key.replace('/', '_')}").write_bytes(sample.data)
    for index in range(40):
        (directory / "notes" / f"{index:02d}.txt").write_text(f"plain note {index}\n" * (index + 1))
    (directory / "broken").symlink_to(root / "missing")
    os.mkfifo(directory / "pipe")
    (directory / "notes-again").symlink_to(directory / "notes")
    return directory


def scan_json(directory: Path, *, one_cpu: bool) -> tuple[int, dict[str, Any], str]:
    """`bucketguard scan --format json DIRECTORY` as a new process: exit status, document, its raw text."""
    pinned = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if one_cpu else []
    completed = subprocess.run(
        [*pinned, sys.executable, "-m", "bucketguard", "scan", "--format", "json", str(directory)],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=300,
    )  # fmt: skip
    return completed.returncode, json.loads(completed.stdout), completed.stdout


@needs_two_cpus
def test_the_cli_document_through_workers_equals_one_process(tmp_path: Path) -> None:
    directory = mixed_directory(tmp_path)
    one_status, alone, alone_text = scan_json(directory, one_cpu=True)
    status, spread, spread_text = scan_json(directory, one_cpu=False)
    assert status == one_status == 1
    for document in (alone, spread):
        for result in document["results"]:
            result.pop("duration_ms")
        document["summary"].pop("duration_ms")
    assert spread == alone
    # One result a line, in the walk's order, with the same bytes around the durations.
    times = re.compile(r'"duration_ms": [0-9.e-]+')
    assert times.sub("", spread_text) == times.sub("", alone_text)
    verdicts = {result["verdict"] for result in spread["results"]}
    assert {"clean", "malicious", "unscannable"} <= verdicts
    targets = [result["target"] for result in spread["results"]]
    assert f"{directory}/notes/00.txt" in targets and f"{directory}/notes-again/00.txt" not in targets


def seven_zip_and_files(tmp_path: Path, program: str, count: int, chm_at: int) -> tuple[Path, list[Path]]:
    """A directory holding `program` as 7zz, and `count` small text files, the one at `chm_at` a CHM
    (which 7-Zip opens)."""
    programs = tmp_path / "bin"
    programs.mkdir()
    (programs / "7zz").write_text(program)
    (programs / "7zz").chmod(0o755)
    files = []
    for index in range(count):
        files.append(tmp_path / f"{index:02d}.txt")
        files[-1].write_text(f"note {index}")
    files[chm_at] = tmp_path / f"{chm_at:02d}-manual.chm"
    files[chm_at].write_bytes(b"ITSF" + bytes(200))
    return programs, files


# A stand-in for 7-Zip that kills the match worker running it: its worker dies mid-batch.
KILLING_SEVEN_ZIP = """#!{python}
import os, signal
os.kill(os.getppid(), signal.SIGKILL)
"""


@needs_two_cpus
def test_a_worker_killed_mid_batch_fails_exactly_its_unfinished_files(tmp_path: Path) -> None:
    # The worker scanning the CHM dies.
    programs, files = seven_zip_and_files(tmp_path, KILLING_SEVEN_ZIP.format(python=sys.executable), 64, 21)
    found = run_isolated(
        """
        os.environ["PATH"] = sys.argv[1] + os.pathsep + os.environ["PATH"]
        paths = [Path(path) for path in sys.argv[2:]]
        engine = Engine(load_ruleset())
        engine.start_workers(2)
        results = [view(result) for result in engine.scan_files(paths, names=[path.name for path in paths])]
        workers = len(engine._workers)
        engine.close()
        print(json.dumps({"results": results, "workers": workers, "left": children()}))
        """,
        str(programs),
        *map(str, files),
    )
    results = found["results"]
    assert [result["target"] for result in results] == [path.name for path in files]
    failed = {index for index, result in enumerate(results) if result["verdict"] == "error"}
    # The dead worker's tasks (the CHM's and those queued behind it, at most four) failed whole; every
    # other file has its own verdict.
    tasks = [set(task) for task in _batches(len(files), 2)]
    its_own = [task for task in tasks if task <= failed]
    assert 21 in failed and set().union(*its_own) == failed and len(its_own) <= 4, failed
    for index, result in enumerate(results):
        if index in failed:
            assert result["reason"] == "internal_error" and "match worker" in result["detail"], result
        else:
            assert result["verdict"] == "clean" and result["sha256"] is not None, result
    assert found["workers"] == 1
    assert found["left"] == "none"


@needs_two_cpus
def test_an_answer_that_is_not_its_files_own_well_formed_results_fails_its_batch(tmp_path: Path) -> None:
    # Whatever a worker says of its files is checked before it reaches the document or the exit status: a
    # malicious file is never printed clean because a worker answered something else. Its answer: the
    # clean results column by column [sha256s, sizes, durations], then the others by position.
    eicar = tmp_path / "eicar.com"
    eicar.write_bytes(pranks.eicar())
    found = run_isolated(
        """
        from bucketguard.scanning import engine as engine_module
        from bucketguard.scanning.workers import fork_workers
        engine_module._batches = lambda count, workers: iter([range(count)])  # both files in one task
        engine = Engine(load_ruleset())
        digest = "0" * 64
        clean = ["clean", None, "", digest, 68, 0.5, []]
        def others(*results):
            return [[], [], [], [[0, results[0]], [1, results[-1]]]]
        lies = {
            "harmless": others(["harmless", *clean[1:]]),
            "clean with a reason": others(["clean", "encrypted", *clean[2:]]),
            "clean with a finding": others([*clean[:-1], [["EICAR", "yara", "high", "", ""]]]),
            "malicious without a finding": others(["malicious", *clean[1:]]),
            "unscannable without a reason": others(["unscannable", *clean[1:]]),
            "a size in text": others([*clean[:4], "68", *clean[5:]]),
            "a size that is true": others([*clean[:4], True, *clean[5:]]),
            "a size below nothing": others([*clean[:4], -68, *clean[5:]]),
            "an infinite duration": others([*clean[:5], float("inf"), []]),
            "no severity": others(["malicious", *clean[1:-1], [["EICAR", "yara", "none", "", ""]]]),
            "six fields": others(clean[:-1]),
            "one clean result for two files": [[digest], [68], [0.5], []],
            "three clean results for two files": [[digest] * 3, [68] * 3, [0.5] * 3, []],
            "a digest not in hex": [[digest, "g" * 64], [68] * 2, [0.5] * 2, []],
            "a digest in capitals": [[digest, "A" * 64], [68] * 2, [0.5] * 2, []],
            "digests of 63 and 65 digits": [["0" * 63, "0" * 65], [68] * 2, [0.5] * 2, []],
            "a digest that is a number": [[digest, 0], [68] * 2, [0.5] * 2, []],
            "a negative size": [[digest] * 2, [68, -1], [0.5] * 2, []],
            "a size in a column that is true": [[digest] * 2, [68, True], [0.5] * 2, []],
            "a duration in text": [[digest] * 2, [68] * 2, [0.5, "0.5"], []],
            "a duration that is not a number": [[digest] * 2, [68] * 2, [0.5, float("nan")], []],
            "a duration past any float": [[digest] * 2, [68] * 2, [0.5, 1e308 * 10], []],
            "a position past the batch": [[digest], [68], [0.5], [[2, None]]],
            "a position twice": [[], [], [], [[0, None], [0, None]]],
            "positions out of order": [[], [], [], [[1, None], [0, None]]],
            "a position in text": [[digest], [68], [0.5], [["1", None]]],
            "three columns": [[digest] * 2, [68] * 2, [0.5] * 2],
            "a result a file": [clean, clean],
            "an error": {"error": "it failed"},
        }
        found = {}
        for lie, answer in [*lies.items(), ("well formed", [[digest] * 2, [68] * 2, [0.5] * 2, []])]:
            engine._workers = fork_workers(2, lambda task, slots: answer, slots=3, slot_bytes=1)
            results = engine.scan_files([sys.argv[1]] * 2, names=["eicar.com", "again.com"])
            found[lie] = [[r.verdict.value, r.reason, r.detail] for r in results]
            engine.close()
        print(json.dumps(found | {"left": children()}))
        """,
        str(eicar),
    )
    assert found.pop("left") == "none"
    # A well-formed answer is taken as it is (the check is of form, not of truth: here a lie, believed),
    # which shows the harness reaches the check.
    assert found.pop("well formed") == [["clean", None, ""]] * 2
    assert len(found) == 29
    for lie, results in found.items():
        assert len(results) == 2
        for verdict, reason, detail in results:
            assert (verdict, reason) == ("error", "internal_error"), lie
            assert "garbage" in detail, lie


# A stand-in for 7-Zip that waits (up to a bound, against a hang) until the scan's first result was given,
# and says whether it was.
WAITING_SEVEN_ZIP = """#!{python}
import sys, time
from pathlib import Path
given = Path({given!r})
for _ in range(600):
    if given.exists():
        break
    time.sleep(0.05)
Path({seen!r}).write_text("given" if given.exists() else "not given")
"""


@needs_two_cpus
def test_results_are_given_in_order_while_later_files_are_still_scanned(tmp_path: Path) -> None:
    # The JSON document is written as results come: the first file's result is out while a later file is
    # still in a worker (7-Zip waiting for that result), not once every file is scanned.
    given, seen = tmp_path / "given", tmp_path / "seen"
    waiting = WAITING_SEVEN_ZIP.format(python=sys.executable, given=str(given), seen=str(seen))
    programs, files = seven_zip_and_files(tmp_path, waiting, 12, 10)
    found = run_isolated(
        """
        os.environ["PATH"] = sys.argv[1] + os.pathsep + os.environ["PATH"]
        from bucketguard.scanning.engine import CleanRun
        paths = [Path(path) for path in sys.argv[3:]]
        engine = Engine(load_ruleset())
        engine.start_workers(2)
        targets = []
        for item in engine.scan_files_in_runs(paths, names=[path.name for path in paths]):
            targets += item.names if isinstance(item, CleanRun) else [item.target]
            Path(sys.argv[2]).touch()
        engine.close()
        print(json.dumps({"targets": targets}))
        """,
        str(programs),
        str(given),
        *map(str, files),
        timeout=120,
    )
    assert found["targets"] == [path.name for path in files]
    assert seen.read_text() == "given"
