"""``agentrl memory``: look after a case bank (AgentFly's memory; docs/memory.md).

    agentrl memory stats                                 # cases per env, successes, encoder, integrity
    agentrl memory search "buy a red cotton shirt" -k 4  # the cases a task would retrieve
    agentrl memory export cases.jsonl --env agentrl/WebShop-v1
    agentrl memory import cases.jsonl                    # re-embedded unless the rows carry this encoder's vectors
    agentrl memory prune --keep-last 10000               # also --older-than-days D, --failures, --env ID

Every subcommand takes ``--path`` (default: ``memory.path``'s default,
``runs/memory/cases.sqlite``). The bank's encoder is read from the bank itself. A file
that is not a case bank (corrupted, another program's database) ends in one line naming
it; nothing is ever reset.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from agentrl.memory.config import MemoryConfig

DEFAULT_PATH = MemoryConfig.path


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "memory",
        help="case memory: stats, search, export/import (JSONL), prune",
        description="Inspect and maintain a case bank (the SQLite file of `memory=on`).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help, description=help)
        p.add_argument("--path", default=DEFAULT_PATH, help=f"the case bank (default: {DEFAULT_PATH})")
        p.set_defaults(run=run)
        return p

    p = action("stats", "cases per env and kind, successes, encoder, schema version, size and integrity")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = action("search", "the cases a task text retrieves (cosine top K)")
    p.add_argument("query", help="the task text")
    p.add_argument("-k", type=int, default=4, help="how many cases (default 4)")
    p.add_argument("--env", default=None, help="only cases of this env id")
    p.add_argument("--kind", default="task", choices=["task", "subtask"])
    p = action("export", "write the cases as JSONL (one case a line, with its embedding)")
    p.add_argument("output", help="the JSONL file to write")
    p.add_argument("--env", default=None, help="only cases of this env id")
    p.add_argument(
        "--no-embeddings", action="store_true", help="leave the embeddings out (smaller; re-embedded on import)"
    )
    p = action("import", "add the cases of a JSONL export (the bank is created if missing)")
    p.add_argument("input", help="the JSONL file to read")
    p.add_argument("--encoder", default=None, help="encoder of a new bank (default: minilm)")
    p = action("prune", "delete cases: past the newest N, older than D days, or the failures")
    p.add_argument("--keep-last", type=int, default=None, help="keep the newest N cases (per --env when given)")
    p.add_argument("--older-than-days", type=float, default=None, help="delete cases older than D days")
    p.add_argument("--failures", action="store_true", help="delete the cases that failed")
    p.add_argument("--env", default=None, help="only cases of this env id")


def _open(path: str, *, encoder: str | None = None, create: bool = False) -> Any:
    from agentrl.memory.bank import CaseBank, CaseBankError
    from agentrl.memory.embedding import Embedder

    try:
        meta = CaseBank.read_meta(path)
    except CaseBankError:
        if not create:
            raise
        name = encoder or MemoryConfig.encoder
        embedder = Embedder(name)
        return CaseBank(path, encoder=name, dim=embedder.dim), embedder
    embedder = Embedder(meta["encoder"])
    return CaseBank(path, encoder=meta["encoder"], dim=int(meta["dim"]), create=False), embedder


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    import numpy as np

    from agentrl.memory.bank import read_jsonl

    bank, embedder = _open(args.path, encoder=getattr(args, "encoder", None), create=args.action == "import")
    with bank:
        if args.action == "stats":
            stats = bank.stats()
            stats["integrity"] = bank.integrity_check()
            if args.json:
                print(json.dumps(stats, indent=2))
                return 0
            meta = stats["meta"]
            print(
                f"{stats['path']}: {stats['cases']} cases, {stats['won']} succeeded | encoder {meta['encoder']} "
                f"(width {meta['dim']}) | schema {meta['schema_version']} | {stats['bytes'] / 1e6:.1f} MB | "
                f"integrity {stats['integrity']}"
            )
            for row in stats["per_env"]:
                print(f"  {row['env_id']} ({row['kind']}): {row['cases']} cases, {row['won']} succeeded")
        elif args.action == "search":
            query = embedder([args.query])[0]
            for case, similarity in bank.search(query, args.k, env_id=args.env, kind=args.kind):
                outcome = "success" if case.won else "failure"
                print(f"[{similarity:.3f}] #{case.id} {case.env_id} {outcome}: {case.task}")
                print(f"    {case.summary}")
        elif args.action == "export":
            count = bank.export_jsonl(args.output, env_id=args.env, embeddings=not args.no_embeddings)
            print(f"{count} cases written to {args.output}")
        elif args.action == "import":
            rows = list(read_jsonl(args.input))
            cases = [case for case, _, _ in rows]
            for case in cases:
                case.id, case.parent = None, None  # new ids here; a subtask's parent id meant another bank's row
            # The export's vectors where they come from this bank's encoder; the rest embedded now.
            reuse = [v is not None and e == bank.encoder and len(v) == bank.dim for _, v, e in rows]
            missing = [c.task for c, ok in zip(cases, reuse, strict=True) if not ok]
            fresh = iter(embedder(missing)) if missing else iter(())
            vectors = [
                np.asarray(v, np.float32) if ok else next(fresh) for (_, v, _), ok in zip(rows, reuse, strict=True)
            ]
            if cases:
                bank.add(cases, np.stack(vectors))
            print(f"{len(rows)} cases imported into {bank.path} (now {len(bank)})")
        else:
            older = time.time() - args.older_than_days * 86400 if args.older_than_days is not None else None
            deleted = bank.prune(env_id=args.env, keep_last=args.keep_last, older_than=older, failures=args.failures)
            print(f"{deleted} cases deleted from {bank.path} ({len(bank)} left)")
    return 0
