"""`python -m bucketguard sandbox up --config Pulumi.<stack>.yaml [--keep]`: any stack config deployed by the
real program into a fresh embedded AWS (moto on 127.0.0.1), with its functions running, before `pulumi up`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bucketguard.cli import EXIT_OK, UsageError
from bucketguard.tables import Table, table

if TYPE_CHECKING:  # the sandbox imports boto3 and moto: loaded when the command runs
    from bucketguard.sandbox.sandbox import Sandbox


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sandbox", help="deploy a stack config into an embedded AWS (no account needed) and run it there"
    )
    commands = parser.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    up = commands.add_parser(
        "up",
        help="deploy a stack config with the real infra/ program into a fresh embedded AWS",
        description="Runs the Pulumi program in infra/ with the stack config under the SDK's mock "
        "runtime and creates every resource in moto's server on 127.0.0.1; prints the endpoint and what "
        "was deployed. Stacks reading another stack's outputs (scannerStack, storageStacks) cannot be "
        "deployed alone.",
    )
    up.add_argument("--config", type=Path, required=True, help="a Pulumi.<stack>.yaml stack config file")
    up.add_argument(
        "--artifact-dir", type=Path, help="the Lambda artifact (default: the config's or build/lambda)"
    )
    up.add_argument(
        "--keep",
        action="store_true",
        help="leave the embedded AWS and the functions running (Ctrl-C to stop)",
    )
    up.set_defaults(run=run_up)


def run_up(args: argparse.Namespace) -> int:
    from bucketguard.sandbox.aws import EmbeddedAws
    from bucketguard.sandbox.deployer import read_stack_config, stack_name
    from bucketguard.sandbox.resources import DeployError
    from bucketguard.sandbox.sandbox import Sandbox

    console = Console()
    try:
        config = read_stack_config(args.config)
    except DeployError as exc:
        raise UsageError(str(exc)) from None
    with EmbeddedAws() as aws:
        try:
            sandbox = Sandbox.up(aws, config, stack=stack_name(args.config), artifact_dir=args.artifact_dir)
        except DeployError as exc:
            raise UsageError(f"{args.config}: {exc}") from None
        deployment = sandbox.deployment
        console.print(
            f"[bold]Embedded AWS[/] at {aws.endpoint_url}: {len(deployment.resources)} resources of "
            f"{args.config} deployed by infra/ in {deployment.seconds:.1f} s.",
            highlight=False,
        )
        console.print(storages_table(sandbox))
        if args.keep:
            keep_running(console, sandbox)
        else:
            sandbox.stop()
    return EXIT_OK


def storages_table(sandbox: Sandbox) -> Table:
    drawn = table(
        "storage", "bucket", "account", "region", "quarantine", "promote", title="protected buckets"
    )
    for st in sandbox.storages.values():
        drawn.add_row(
            st.name,
            st.bucket,
            st.account.account_id,
            st.region,
            st.quarantine_bucket or "-",
            st.promote_bucket or "-",
        )
    return drawn


def keep_running(console: Console, sandbox: Sandbox) -> None:
    """Runs the functions in the background until Ctrl-C, after printing how to use the first storage."""
    st = sandbox.storage
    creds = st.account.session.get_credentials()
    endpoint = sandbox.aws.endpoint_url
    sandbox.start()
    console.print(
        "\nThe embedded AWS keeps running, with the functions. Try (credentials of the bucket's account):\n"
        f"  export AWS_ACCESS_KEY_ID={creds.access_key} AWS_SECRET_ACCESS_KEY={creds.secret_key} "
        f"AWS_SESSION_TOKEN={creds.token or ''} AWS_DEFAULT_REGION={st.region}\n"
        f"  aws --endpoint-url {endpoint} s3 cp ./file.pdf s3://{st.bucket}/file.pdf\n"
        f"  aws --endpoint-url {endpoint} s3api get-object-tagging --bucket {st.bucket} --key file.pdf\n"
        f"  python -m bucketguard scan s3://{st.bucket}/ --endpoint-url {endpoint}\n"
        f"Function logs: {sandbox.workdir}. Ctrl-C to stop.",
        highlight=False,
        soft_wrap=True,
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
