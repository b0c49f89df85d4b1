"""False positives of the bundled rules on real clean files. Not a test: run it by hand.

    .venv/bin/python benchmarks/fp_corpus.py [--min-files 20000] [--npm-dir DIR] [--offline]

Builds a corpus of files this machine already has or can install, none of them malware: Debian's
/usr/share/doc and /usr/share data, the Python standard library, the installed Python packages (site-packages
of this interpreter), and the node_modules of popular npm packages (jquery, bootstrap, lodash, react-dom,
angular, vue, d3, three, moment, chart.js) installed with `npm install --ignore-scripts` into a temporary
directory, and documents LibreOffice headless writes (when installed): a text document, a spreadsheet and a
presentation in each of its formats, and /usr/share/doc's HTML pages as .docx, .odt, .doc and .pdf.
Scans every file with the bundled rules and prints the count, then each file reported malicious (a false
positive, with the rules that matched) and the unscannable ones (not false positives: the engine says it
could not read them). Exit status 1 when anything was flagged, or the corpus is smaller than
--min-files. Goal (issue 11): 0 false positives on >= 20,000 files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.clamav_testfiles import throughput  # noqa: E402
from bucketguard.scanning.engine import Engine  # noqa: E402
from bucketguard.scanning.result import ScanResult  # noqa: E402
from bucketguard.scanning.ruleset import load_ruleset  # noqa: E402
from tests.scanning import libreoffice  # noqa: E402

NPM_PACKAGES = (
    "jquery",
    "bootstrap",
    "lodash",
    "react-dom",
    "angular",
    "vue",
    "d3",
    "three",
    "moment",
    "chart.js",
)
MAX_FILE_BYTES = 64 * 1024 * 1024  # larger files are rare here and only slow the run down
# Anti-malware test files are meant to be detected: not part of a clean corpus.
NOT_CLEAN = (Path("/usr/share/clamav-testfiles"),)


def files_under(root: Path) -> Iterator[Path]:
    """Regular files under root, each real file once, in a stable order."""
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if Path(directory) / d not in NOT_CLEAN)
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size <= MAX_FILE_BYTES:
                yield path


def npm_modules(into: Path) -> Path | None:
    """node_modules of the popular packages, installed without running their scripts; None without npm."""
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the node_modules part of the corpus is skipped", file=sys.stderr)
        return None
    command = [
        npm,
        "install",
        "--prefix",
        str(into),
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--silent",
    ]
    subprocess.run([*command, *NPM_PACKAGES], check=True)
    return into / "node_modules"


def libreoffice_documents(into: Path, pages: int = 40) -> Path | None:
    """Documents LibreOffice writes (tests/scanning/libreoffice.py); None without LibreOffice."""
    if libreoffice.SOFFICE is None:
        print("LibreOffice not found: its documents are left out of the corpus", file=sys.stderr)
        return None
    libreoffice.office_documents(into / "samples")
    html = sorted(p for p in Path("/usr/share/doc").rglob("*.html") if p.is_file() and not p.is_symlink())[
        :pages
    ]
    copies = into / "pages"
    copies.mkdir()
    sources = []
    for number, page in enumerate(html):  # names made unique: several packages have an index.html
        sources.append(copies / f"{number:04d}-{page.stem}.html")
        shutil.copyfile(page, sources[-1])
    for target in ("docx", "odt", "doc", "pdf"):
        libreoffice.convert(sources, target, into / target, infilter="HTML (StarWriter)")
    shutil.rmtree(copies)
    return into


def corpus_sources(npm_dir: Path | None, documents: Path | None) -> dict[str, Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = {
        "/usr/share/doc": Path("/usr/share/doc"),
        "/usr/share (data)": Path("/usr/share"),
        "python stdlib": stdlib,
        "python packages": Path(sysconfig.get_paths()["purelib"]),
    }
    if npm_dir is not None:
        sources["node_modules"] = npm_dir
    if documents is not None:
        sources["LibreOffice documents"] = documents
    return sources


def build_corpus(sources: dict[str, Path]) -> dict[Path, str]:
    """{file: the source it came from}; a file reachable from two sources is counted once."""
    corpus: dict[Path, str] = {}
    seen: set[tuple[int, int]] = set()
    for label, root in sources.items():
        for path in files_under(root):
            info = path.stat()
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                corpus[path] = label
    return corpus


def scanned_corpus(
    engine: Engine, npm_dir: Path | None, offline: bool
) -> tuple[dict[Path, str], dict[Path, ScanResult], float]:
    """The corpus built (npm packages installed unless offline, LibreOffice documents written in a
    temporary directory), each file's result, and the seconds the scans took."""
    with tempfile.TemporaryDirectory(prefix="bucketguard-fp-") as temporary:
        modules = None
        if not offline:
            target = npm_dir or Path(temporary)
            existing = target / "node_modules"
            modules = existing if existing.is_dir() else npm_modules(target)
        documents = libreoffice_documents(Path(temporary) / "libreoffice")
        corpus = build_corpus(corpus_sources(modules, documents))
        started = time.perf_counter()
        results = {path: engine.scan_file(path) for path in corpus}
        return corpus, results, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-files", type=int, default=20_000)
    parser.add_argument("--npm-dir", type=Path, help="reuse (or keep) the npm install here")
    parser.add_argument("--offline", action="store_true", help="no npm install (node_modules left out)")
    args = parser.parse_args()

    engine = Engine(load_ruleset())
    corpus, results, elapsed = scanned_corpus(engine, args.npm_dir, args.offline)
    flagged, unscannable = [], []
    verdicts = Counter(result.verdict.value for result in results.values())
    size = sum(result.size or 0 for result in results.values())
    for path, result in results.items():
        if result.verdict.value == "malicious":
            rules = sorted({f"{f.rule}{' in ' + f.path if f.path else ''}" for f in result.findings})
            flagged.append(f"{path}: {'; '.join(rules)}")
        elif result.verdict.value != "clean":
            unscannable.append(f"{path}: {result.verdict.value} {result.reason}")

    by_source = Counter(corpus.values())
    print(f"corpus: {len(corpus)} files ({', '.join(f'{n} {label}' for label, n in by_source.items())})")
    print(f"scanned with {engine.backend}, rules {engine.ruleset_version}:")
    print(f"  {throughput(len(corpus), size, elapsed)}")
    print(f"verdicts: {dict(verdicts)}")
    print(f"false positives: {len(flagged)}")
    for line in flagged:
        print(f"  {line}")
    print(f"unscannable or error (not false positives): {len(unscannable)}")
    for line in unscannable[:50]:
        print(f"  {line}")
    return 1 if flagged or len(corpus) < args.min_files else 0


if __name__ == "__main__":
    raise SystemExit(main())
