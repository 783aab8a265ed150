"""Make ``envs/scienceworld_gold.json``: which ScienceWorld gold paths win when ScienceWorld-v0 replays them.

    nice -n 19 python tools/scienceworld_gold.py replay --progress /tmp/swgold.jsonl               # every task
    nice -n 19 python tools/scienceworld_gold.py replay --progress /tmp/swgold.jsonl --tasks boil  # some tasks
    python tools/scienceworld_gold.py write --progress /tmp/swgold.jsonl                           # the data file

``replay`` plays, for each task in turn, every variation of the split in order in one env (one JVM): reset loads
the variation with its gold path (the package's gold agent plays a copy of the world), then the env's expert,
which is that gold path, is played until it ends, gives up or the episode ends. Each variation appends one JSON
line to the progress file (task, variation, won, score, steps, gold length, and for one that does not win the
reason, the step and the gold action there); a rerun skips the variations already in it, so a killed run goes on
where it stopped. ``write`` turns the progress file into the data file the env reads (:func:`gold_replay`), with
the scienceworld version and the Java options the JVMs ran with, and prints the counts per task.

Reasons a gold path does not win:

* ``rejected``: the simulator does not accept a gold action (a name that no longer resolves, or an ambiguity
  prompt the gold path does not answer); the expert gives up there.
* ``failed``: the score goes negative (a wrong focus, for one): the task is failed.
* ``incomplete``: every gold action was played and the score is under 100.
* ``no_gold_path``: the package's gold agent returned no actions.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from agentrl.envs.scienceworld_env import GOLD_REPLAYS, JAVA_OPTIONS, TOPICS, ScienceWorldEnv, replay_gold  # noqa: E402

TASKS = [task for tasks in TOPICS.values() for task in tasks]


def read_progress(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_replay(args: argparse.Namespace) -> int:
    tasks = args.tasks.split(",") if args.tasks else TASKS
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise SystemExit(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    done = {(r["task"], r["variation"]) for r in read_progress(args.progress)}
    with args.progress.open("a") as out:
        for task in tasks:
            env = ScienceWorldEnv(task=task, split=args.split, simplification=args.simplification)
            try:
                todo = [i for i, pair in enumerate(env.pairs) if pair not in done]
                if args.limit:
                    todo = todo[: args.limit]
                for i in todo:
                    record = replay_gold(env, i)
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                    if not record["won"]:
                        print(json.dumps(record), flush=True)
            finally:
                env.close()
            print(f"{task}: {len(todo)} variations replayed", flush=True)
    return 0


def run_write(args: argparse.Namespace) -> int:
    records = [record for path in args.progress for record in read_progress(path)]
    if not records:
        raise SystemExit("the progress files hold no replays; run: python tools/scienceworld_gold.py replay")
    by_task: dict[str, dict[int, dict[str, Any]]] = {}
    for record in records:
        by_task.setdefault(record["task"], {})[record["variation"]] = record
    tasks: dict[str, Any] = {}
    for task in TASKS:  # the paper's order
        replays = by_task.get(task)
        if not replays:
            continue
        variations = sorted(replays)
        if variations != list(range(variations[0], variations[-1] + 1)):
            raise SystemExit(f"{task}: the replayed variations are not one contiguous run; replay the gaps first")
        not_won = {
            str(v): {key: r[key] for key in ("reason", "step", "action") if key in r}
            for v, r in sorted(replays.items())
            if not r["won"]
        }
        tasks[task] = {
            "measured": [variations[0], variations[-1]],
            "won": len(variations) - len(not_won),
            "not_won": not_won,
        }
    data = {
        "about": "Gold paths of ScienceWorld that do not win when agentrl/ScienceWorld-v0 replays them "
        "(made by tools/scienceworld_gold.py; see its docstring for the reasons).",
        "scienceworld": importlib.metadata.version("scienceworld"),
        "split": args.split,
        "simplification": args.simplification,
        "java_options": list(JAVA_OPTIONS),
        "tasks": tasks,
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    for task, entry in tasks.items():
        first, last = entry["measured"]
        failures = ", ".join(f"{v} ({f['reason']})" for v, f in entry["not_won"].items())
        print(f"{task}: {entry['won']}/{last - first + 1} win{'; not: ' + failures if failures else ''}")
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    for name, help_ in (("replay", "replay gold paths into the progress file"), ("write", "write the data file")):
        verb = verbs.add_parser(name, help=help_)
        verb.add_argument(
            "--progress",
            type=Path,
            required=True,
            nargs="+" if name == "write" else None,
            help="JSON-lines progress file (appended to); write reads one or more",
        )
        verb.add_argument("--split", default="test", choices=("train", "dev", "test"))
        verb.add_argument("--simplification", default="easy")
    replay = verbs.choices["replay"]
    replay.add_argument("--tasks", default="", help="comma-separated tasks (default: all 30, in the paper's order)")
    replay.add_argument("--limit", type=int, default=0, help="replay at most this many new variations per task")
    verbs.choices["write"].add_argument("--out", type=Path, default=GOLD_REPLAYS)
    args = parser.parse_args(argv)
    return run_replay(args) if args.verb == "replay" else run_write(args)


if __name__ == "__main__":
    raise SystemExit(main())
