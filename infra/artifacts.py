"""The Lambda code the program deploys: checks the built artifact, or builds it (bucketguard.packaging)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from bucketguard import packaging
from bucketguard.errors import UserError


@dataclass(frozen=True)
class LambdaArtifact:
    directory: Path
    manifest: packaging.Manifest

    @property
    def code(self) -> pulumi.Archive:
        return pulumi.FileArchive(str(self.directory / "package"))

    @property
    def ruleset_path(self) -> str:
        # Lambda unpacks the zip into /var/task.
        return f"/var/task/{self.manifest.ruleset_file}"


def ensure_artifact(architecture: str, artifact_dir: str | None) -> LambdaArtifact:
    """The artifact for this architecture, built when missing or stale (an artifact without bytecode is stale
    once an interpreter that can compile it is found); a one-line error when it can't be."""
    output = Path(artifact_dir) if artifact_dir else packaging.DEFAULT_OUTPUT
    directory = packaging.artifact_dir(output, architecture)
    found = packaging.problems(directory, architecture)
    if found:
        pulumi.log.info(f"bucketguard: building the Lambda artifact in {directory}: {'; '.join(found)}")
        try:
            previous = packaging.read_manifest(directory) if (directory / "manifest.json").is_file() else None
        except packaging.PackagingError:
            previous = None
        try:
            # A rebuild keeps the custom rules and hash lists the artifact was built with.
            directory, _ = packaging.build(
                architecture,
                output,
                rules=[Path(p) for p in previous.rule_paths] if previous else (),
                hashes=[Path(p) for p in previous.hash_paths] if previous else (),
            )
        except (packaging.PackagingError, UserError) as exc:
            raise pulumi.RunError(
                f"bucketguard: the Lambda artifact in {directory} can't be used ({'; '.join(found)}) and "
                f"building it failed: {exc}. Run `python -m bucketguard build --architecture {architecture}`"
            ) from None
    manifest = packaging.read_manifest(directory)
    if not manifest.bytecode:
        pulumi.log.warn(f"bucketguard: {packaging.no_bytecode_warning(manifest.python_version)}")
    return LambdaArtifact(directory, manifest)
