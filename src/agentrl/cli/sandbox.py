"""``agentrl sandbox``: build the sandbox image, run a command in a sandbox, clean up.

agentrl sandbox build-image              # debootstrap + docker import -> agentrl/sandbox:bookworm
agentrl sandbox run -- python3 -c 'print(1)'
agentrl sandbox run --backend docker "echo hi; id"
agentrl sandbox clean                    # remove what killed drivers left behind
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "sandbox",
        help="build the sandbox image, run commands in a sandbox",
        description="Build the Docker sandbox image, run a command in a sandbox, or clean up leftovers.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build-image", help="bootstrap a Debian rootfs and import it into Docker")
    build.add_argument("--tag", default=None, help="image name (default agentrl/sandbox:bookworm)")
    build.add_argument("--suite", default="bookworm", help="Debian release")
    build.add_argument("--mirror", default="http://deb.debian.org/debian", help="Debian mirror")
    build.add_argument("--rebuild", action="store_true", help="bootstrap again even if a cached rootfs exists")
    build.set_defaults(run=run_build)
    run = actions.add_parser("run", help="run one command in a fresh sandbox and print its result")
    run.add_argument("--backend", choices=("bubblewrap", "docker"), default="bubblewrap")
    run.add_argument("--image", default=None, help="docker image (default agentrl/sandbox:bookworm)")
    run.add_argument("--timeout", type=float, default=30.0, help="wall-clock limit in seconds")
    run.add_argument("--memory-mb", type=int, default=512)
    run.add_argument("--disk-mb", type=int, default=256, help="most the work dir may hold (a tmpfs), in MiB")
    run.add_argument("--network", action="store_true", help="allow network access (off by default)")
    run.add_argument("--json", action="store_true", help="print the ExecResult as JSON")
    run.add_argument("cmd", nargs="+", help="a shell command (one argument) or an argv (several)")
    run.set_defaults(run=run_command)
    clean = actions.add_parser("clean", help="remove work dirs, cgroups, containers and volumes of killed drivers")
    clean.set_defaults(run=run_clean)


def run_build(args: argparse.Namespace, _extra: list[str]) -> int:
    from agentrl.sandboxes.image import ImageConfig, build_image

    config = ImageConfig(suite=args.suite, mirror=args.mirror, rebuild=args.rebuild)
    if args.tag:
        config.tag = args.tag
    print(json.dumps(build_image(config)))
    return 0


def run_command(args: argparse.Namespace, _extra: list[str]) -> int:
    from dataclasses import asdict

    from agentrl.sandboxes.base import SandboxConfig, make_sandbox

    config = SandboxConfig(backend=args.backend, memory_mb=args.memory_mb, disk_mb=args.disk_mb, network=args.network)
    if args.image:
        config.image = args.image
    cmd = args.cmd[0] if len(args.cmd) == 1 else args.cmd
    with make_sandbox(config) as sandbox:
        result = sandbox.run(cmd, timeout=args.timeout)
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.timed_out:
            print(f"agentrl sandbox: timed out after {args.timeout} s (killed)", file=sys.stderr)
    return result.exit_code


def run_clean(_args: argparse.Namespace, _extra: list[str]) -> int:
    from agentrl.sandboxes.base import SandboxUnavailable
    from agentrl.sandboxes.bubblewrap import reap_workdirs
    from agentrl.sandboxes.cgroups import cgroups_available, reap_stale

    report: dict[str, object] = {"workdirs": reap_workdirs()}
    report["cgroups"] = reap_stale() if cgroups_available() else "unavailable"
    try:
        from agentrl.sandboxes.docker import reap_orphans

        report["docker"] = reap_orphans()
    except SandboxUnavailable as error:
        report["docker"] = f"unavailable: {error}"
    print(json.dumps(report))
    return 0
