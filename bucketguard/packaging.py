"""Builds the Lambda artifact: one directory the three functions share, with a manifest.

    <output>/<architecture>/manifest.json
    <output>/<architecture>/package/      the zip root Lambda unpacks into /var/task:
        third-party wheels for the Lambda runtime (functions/requirements.txt),
        bucketguard/ (the library), functions/ (the handlers), bucketguard-ruleset.zip (compiled rules)

The wheels are chosen for the Lambda platform, not the build machine: `pip install --platform
manylinux2014_<arch> --platform manylinux_2_28_<arch> --only-binary=:all: --python-version 3.12`.
Both tags are needed: yara-x's current wheels are manylinux_2_28 only; with manylinux2014 alone pip
silently falls back to an old yara-x on x86_64 and finds nothing on aarch64. The Lambda Python 3.12
runtime is Amazon Linux 2023 (glibc 2.34), which runs manylinux_2_28 wheels.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bucketguard.errors import UserError

MANIFEST_SCHEMA_VERSION = 1
LAMBDA_PYTHON_VERSION = "3.12"
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}
RULESET_FILE = "bucketguard-ruleset.zip"
# The repository's own code in the artifact (the rest of package/ is third-party wheels).
FIRST_PARTY_DIRS = ("bucketguard", "functions")
HANDLERS = {
    "listener": "functions.listener.app.handler",
    "scanner": "functions.scanner.app.handler",
    "postscan": "functions.postscan.app.handler",
    "rules_update": "functions.rules_update.app.handler",
    "audit": "functions.audit.app.handler",
    "audit_fanout": "functions.audit_fanout.app.handler",
    "monitor": "functions.monitor.app.handler",
}
REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"
DEFAULT_OUTPUT = REPO_ROOT / "build" / "lambda"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "requirements.txt", "tests")


class PackagingError(UserError, RuntimeError):
    """The artifact could not be built or does not match what is asked; the message says what to do."""


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    architecture: str
    python_version: str
    platforms: list[str]
    requirements_sha256: str
    sources_sha256: str
    content_sha256: str
    ruleset_version: str
    ruleset_file: str
    handlers: dict[str, str]
    file_count: int
    size_bytes: int
    built_at: str
    # `build --rules DIR --hashes FILE`: absolute paths and a hash over their contents, so a rebuild at
    # preview keeps them and a change to them makes the artifact stale.
    rule_paths: list[str] = field(default_factory=list)
    hash_paths: list[str] = field(default_factory=list)
    inputs_sha256: str = ""
    # The interpreter tag of the bytecode shipped beside every module ("cpython-312"), "" when none was
    # compiled (no interpreter of the runtime's version at build time): see compile_command.
    bytecode: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def platforms_for(architecture: str) -> list[str]:
    machine = ARCHITECTURES[architecture]
    return [f"manylinux2014_{machine}", f"manylinux_2_28_{machine}"]


def pip_command(architecture: str, python_version: str, target: Path, requirements: Path) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
    ]
    for platform in platforms_for(architecture):
        command += ["--platform", platform]
    command += [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]
    return command


def tree_sha256(root: Path) -> tuple[str, int, int]:
    """sha256 over the sorted relative paths and contents of every file under root (count, bytes too)."""
    digest = hashlib.sha256()
    count = size = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        relative = path.relative_to(root).as_posix()
        data = path.read_bytes()
        digest.update(relative.encode() + b"\0" + hashlib.sha256(data).digest())
        count += 1
        size += len(data)
    return digest.hexdigest(), count, size


def sources_sha256(repo_root: Path = REPO_ROOT) -> str:
    """The hash of the library and handlers the artifact copies, to detect a stale build."""
    digest = hashlib.sha256()
    for folder in FIRST_PARTY_DIRS:
        for path in sorted((repo_root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            digest.update(path.relative_to(repo_root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_sha256(paths: Sequence[str]) -> str:
    """The hash of the custom rule directories (or files) and hash lists an artifact was built with."""
    digest = hashlib.sha256()
    for name in paths:
        path = Path(name)
        digest.update(name.encode() + b"\0")
        digest.update((tree_sha256(path)[0] if path.is_dir() else file_sha256(path)).encode())
    return digest.hexdigest()


def artifact_dir(output: Path, architecture: str) -> Path:
    return output / architecture


def read_manifest(directory: Path) -> Manifest:
    path = directory / "manifest.json"
    try:
        raw = json.loads(path.read_text())
        return Manifest(**raw)
    except FileNotFoundError:
        raise PackagingError(f"{path}: no manifest (run `python -m bucketguard build`)") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise PackagingError(
            f"{path}: unreadable manifest ({exc}); rebuild with `python -m bucketguard build`"
        ) from None


def problems(directory: Path, architecture: str, *, python_version: str = LAMBDA_PYTHON_VERSION) -> list[str]:
    """What is wrong with the artifact in directory for this architecture, or missing that a build now would
    add (bytecode); empty when it can be deployed as it is."""
    try:
        manifest = read_manifest(directory)
    except PackagingError as exc:
        return [str(exc)]
    found: list[str] = []
    if manifest.architecture != architecture:
        found.append(f"built for {manifest.architecture}, the scanner is configured for {architecture}")
    if manifest.python_version != python_version:
        found.append(
            f"built for Python {manifest.python_version}, the Lambda runtime is Python {python_version}"
        )
    if REQUIREMENTS.exists() and manifest.requirements_sha256 != file_sha256(REQUIREMENTS):
        found.append("functions/requirements.txt changed since the build")
    if manifest.sources_sha256 != sources_sha256():
        found.append("bucketguard/ or functions/ changed since the build")
    inputs = [*manifest.rule_paths, *manifest.hash_paths]
    missing = [p for p in inputs if not Path(p).exists()]
    if missing:
        found.append(f"{missing[0]} (built into the artifact with --rules/--hashes) is gone")
    elif inputs and inputs_sha256(inputs) != manifest.inputs_sha256:
        found.append("the --rules or --hashes it was built with changed since the build")
    content, _, _ = tree_sha256(directory / "package")
    if content != manifest.content_sha256:
        found.append("package/ does not match the manifest's content hash (modified or partial build)")
    python = None if manifest.bytecode else bytecode_python(python_version, _run)
    if python:
        found.append(f"built without bytecode, which {python} (Python {python_version}) can now compile")
    return found


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False)


def compile_command(python: str, package: Path) -> list[str]:
    """Bytecode for every module of the package, so a cold start does not compile them: Lambda's /var/task
    is read-only, so without it the runtime compiles the handler's whole import chain (boto3, pydantic,
    Powertools, bucketguard) at every cold start. checked-hash: Python uses a .pyc only while the source
    beside it still has the hash the .pyc was compiled from (no timestamps, which a zip may not keep)."""
    return [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash", str(package)]


def bytecode_python(python_version: str, runner: Runner) -> str | None:
    """An interpreter of the Lambda runtime's Python version (bytecode is specific to it): this one, or
    `python<version>` on PATH when it runs and is that version (a pyenv shim may name one it cannot run)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python_version:
        return sys.executable
    found = shutil.which(f"python{python_version}")
    if found is None:
        return None
    probe = runner([found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    return found if probe.returncode == 0 and probe.stdout.strip() == python_version else None


def no_bytecode_warning(python_version: str) -> str:
    """What an artifact built without bytecode costs and how to get it, said by `build` and the program."""
    return (
        f"no python{python_version} found to compile the Lambda artifact's bytecode: each cold start of the "
        f"functions compiles their modules (about 1 s of CPU more); with a python{python_version} on PATH, "
        "the next build or pulumi preview/up compiles it"
    )


def _compile_bytecode(python: str, python_version: str, package: Path, runner: Runner) -> str:
    """Compiles the package and returns the bytecode's tag. A third-party file that does not compile (some
    wheels still ship Python 2 leftovers, such as olefile2.py) is no loss, it cannot be imported either;
    a module of ours without its bytecode is an error."""
    tag = f"cpython-{python_version.replace('.', '')}"
    result = runner(compile_command(python, package))
    for folder in FIRST_PARTY_DIRS:
        for source in sorted((package / folder).rglob("*.py")):
            if not (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").is_file():
                output = (result.stdout or result.stderr or "").strip().splitlines()[-1:] or ["no output"]
                raise PackagingError(
                    f"{source.relative_to(package)}: no bytecode compiled by {python}: {output[0]}"
                )
    return tag


def build(
    architecture: str,
    output: Path = DEFAULT_OUTPUT,
    *,
    python_version: str = LAMBDA_PYTHON_VERSION,
    requirements: Path = REQUIREMENTS,
    runner: Runner = _run,
    rules: Sequence[Path] = (),
    hashes: Sequence[Path] = (),
) -> tuple[Path, Manifest]:
    """Builds <output>/<architecture>/ (replacing any previous build) and returns it with its manifest.

    `rules` (directories or files) join the bundled rules and `hashes` (SHA-256 lists) go into the compiled
    ruleset the scanner loads, so the deployed scanner uses them as `scan --rules/--hashes` does."""
    rule_paths = [str(Path(p).resolve()) for p in rules]
    hash_paths = [str(Path(p).resolve()) for p in hashes]
    if architecture not in ARCHITECTURES:
        raise PackagingError(f"--architecture: {architecture!r} is not one of {', '.join(ARCHITECTURES)}")
    if not requirements.is_file():
        raise PackagingError(f"{requirements}: the Lambda requirements file is missing")
    missing = [h for h in HANDLERS if not (REPO_ROOT / "functions" / h / "app.py").is_file()]
    if missing:
        raise PackagingError(f"functions/{missing[0]}/app.py: handler module missing; nothing to package")
    directory = artifact_dir(output, architecture)
    staging = directory.with_name(f".{architecture}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    package = staging / "package"
    package.mkdir(parents=True)
    result = runner(pip_command(architecture, python_version, package, requirements))
    if result.returncode != 0:
        last = (result.stderr or result.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise PackagingError(
            f"pip could not fetch the {architecture} wheels for Python {python_version} "
            f"(exit {result.returncode}): {last[0]}"
        )
    for folder in FIRST_PARTY_DIRS:
        shutil.copytree(REPO_ROOT / folder, package / folder, ignore=_IGNORED)
    ruleset_version = _write_ruleset(package / RULESET_FILE, rule_paths, hash_paths)
    python = bytecode_python(python_version, runner)
    bytecode = _compile_bytecode(python, python_version, package, runner) if python else ""
    content, count, size = tree_sha256(package)
    manifest = Manifest(
        schema_version=MANIFEST_SCHEMA_VERSION,
        architecture=architecture,
        python_version=python_version,
        platforms=platforms_for(architecture),
        requirements_sha256=file_sha256(requirements),
        sources_sha256=sources_sha256(),
        content_sha256=content,
        ruleset_version=ruleset_version,
        ruleset_file=RULESET_FILE,
        handlers=dict(HANDLERS),
        file_count=count,
        size_bytes=size,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rule_paths=rule_paths,
        hash_paths=hash_paths,
        inputs_sha256=inputs_sha256([*rule_paths, *hash_paths]),
        bytecode=bytecode,
    )
    (staging / "manifest.json").write_text(manifest.to_json() + "\n")
    # Swap in the finished build so an interrupted build never leaves a half artifact behind a manifest.
    shutil.rmtree(directory, ignore_errors=True)
    staging.replace(directory)
    return directory, manifest


def _write_ruleset(path: Path, rules: Sequence[str], hashes: Sequence[str]) -> str:
    """Compiles the bundled rules (plus `rules`, with the `hashes` lists) into the artifact the scanner
    loads at cold start."""
    from bucketguard.scanning.hashes import HashList
    from bucketguard.scanning.ruleset import Ruleset, load_ruleset, ruleset_version, write_artifact

    ruleset = load_ruleset([Path(p) for p in rules])
    if hashes:
        lists = tuple((f"hashes/{Path(p).name}", HashList.load(Path(p))) for p in hashes)
        ruleset = Ruleset(ruleset_version(ruleset.sources, lists), ruleset.sources, lists)
    write_artifact(ruleset, path)
    return ruleset.version


POLICY_PACK_DIR = REPO_ROOT / "policy_pack"
# What `pulumi policy publish` ships besides the vendored library; the pack's venv is its own (`venv`, which
# Pulumi creates from requirements.txt when it installs the pack), never the checkout's.
PACK_FILES = ("__main__.py", "requirements.txt")
PACK_PACKAGE = "bucketguard_pack"
PACK_VIRTUALENV = "venv"
# The pack runs in the Pulumi engine's policy plugin: the AWS SDK is neither installed nor wanted there.
PACK_FORBIDDEN_IMPORTS = frozenset({"boto3", "botocore"})


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of every module `path` imports, at the top or inside functions."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".rstrip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # may be submodules
    return found


def _module_file(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def pack_modules(pack_dir: Path = POLICY_PACK_DIR, repo_root: Path = REPO_ROOT) -> dict[str, Path]:
    """The bucketguard modules the pack imports, directly or through each other, and their packages."""
    pending = [(f"{PACK_PACKAGE}.{p.stem}", p) for p in sorted((pack_dir / PACK_PACKAGE).glob("*.py"))]
    pending.append(("__main__", pack_dir / "__main__.py"))
    seen: dict[str, Path] = {}
    while pending:
        module, path = pending.pop()
        for name in sorted(_imports(path, module)):
            if name.split(".")[0] in PACK_FORBIDDEN_IMPORTS:
                raise PackagingError(f"{path}: imports {name}, which the policy pack must not need")
            if name.split(".")[0] != "bucketguard":
                continue
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                parent = ".".join(parts[:depth])
                source = _module_file(parent, repo_root)
                if parent not in seen and source is not None:
                    seen[parent] = source
                    pending.append((parent, source))
    return dict(sorted(seen.items()))


def build_policy_pack(
    output: Path, pack_dir: Path = POLICY_PACK_DIR, repo_root: Path = REPO_ROOT
) -> list[str]:
    """Writes a self-contained copy of the pack to output (replacing it), the folder `pulumi policy publish`
    ships: the pack, its requirements and the bucketguard modules it imports. Returns those module names."""
    # The previous build is replaced: never a folder holding the pack's sources or anything else.
    resolved = output.resolve()
    if resolved == pack_dir.resolve() or resolved in pack_dir.resolve().parents:
        raise PackagingError(f"--policy-pack {output}: holds the pack's sources; give another directory")
    if output.is_dir() and any(output.iterdir()) and not (output / "PulumiPolicy.yaml").is_file():
        raise PackagingError(
            f"--policy-pack {output}: not empty and not a built pack; give another directory"
        )
    modules = pack_modules(pack_dir, repo_root)
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in PACK_FILES:
        shutil.copy2(pack_dir / name, staging / name)
    shutil.copytree(pack_dir / PACK_PACKAGE, staging / PACK_PACKAGE, ignore=_IGNORED)
    for source in modules.values():
        target = staging / source.relative_to(repo_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    manifest = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    manifest.setdefault("runtime", {}).setdefault("options", {})["virtualenv"] = PACK_VIRTUALENV
    (staging / "PulumiPolicy.yaml").write_text(
        "# Built by `python -m bucketguard build --policy-pack`; publish: `pulumi policy publish <org>`.\n"
        + yaml.safe_dump(manifest, sort_keys=False),
        encoding="utf-8",
    )
    shutil.rmtree(output, ignore_errors=True)
    staging.replace(output)
    return list(modules)
