"""The ``agentrl`` command: one console script, one subcommand per job.

``agentrl envs`` lists the registered envs; ``agentrl play ENV`` lets a person (or the
expert) play any env in the terminal; ``agentrl train`` trains a policy with RL;
``agentrl eval`` runs the fixed-seed evaluation of a model. Settings beyond the flags are Hydra overrides
(``env.kwargs.size=8``) composed over the config files in ``agentrl/configs``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``agentrl`` and its subcommands."""
    from agentrl import __version__
    from agentrl.cli import (
        alfworld,
        algos,
        collect,
        envs,
        evaluate,
        memory,
        play,
        prove,
        runs,
        sandbox,
        serve_env,
        serve_model,
        train,
        view,
        webshop,
        werewolf,
    )

    parser = argparse.ArgumentParser(
        prog="agentrl",
        description="A gym of text, web and multi-agent envs for LLM agents, and an RL trainer for them.",
    )
    parser.add_argument("--version", action="version", version=f"agentrl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    envs.add_parser(sub)
    play.add_parser(sub)
    train.add_parser(sub)
    algos.add_parser(sub)
    runs.add_parser(sub)
    evaluate.add_parser(sub)
    collect.add_parser(sub)
    prove.add_parser(sub)
    serve_env.add_parser(sub)
    serve_model.add_parser(sub)
    sandbox.add_parser(sub)
    webshop.add_parser(sub)
    alfworld.add_parser(sub)
    view.add_parser(sub)
    werewolf.add_parser(sub)
    memory.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``agentrl`` with ``argv`` (default: the process arguments); return the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from agentrl.sandboxes.base import SandboxError

    try:
        return int(args.run(args, extra) or 0)
    except SandboxError as err:
        # A backend that is missing or not running: the message says what to do.
        print(f"agentrl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (KeyError, ValueError) as err:
        # Bad names and settings: one clear line, not a traceback.
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"agentrl {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
