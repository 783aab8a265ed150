"""``agentrl prove PATH``: best-first proof search over a folder of Coq problems; solved/total as JSON.

    agentrl prove builtin                                 (agentrl's 65 theorems, every split)
    agentrl prove builtin prove.split=test prove.tiers=[1]
    agentrl prove /path/to/minif2f/test search.max_nodes=400 search.max_seconds=120
    agentrl prove theorem.v prove.output=runs/prove/one
    agentrl prove builtin prove.proposer=model model=smollm2 proposer.candidates=8 search.max_nodes=20
    agentrl prove builtin prove.proposer=model prove.init_from=runs/train/coq-sft   (a fine-tuned policy)

PATH is ``builtin`` or a folder / ``.v`` file of problems (miniF2F style, see
``docs/prover.md``). Each proof found is written as ``OUTPUT/proofs/NAME.v`` (header,
statement, proof, ``Qed.``) and re-checked from that file with ``coqc`` (and ``Print
Assumptions``); ``OUTPUT/proofs.json`` holds the proofs by name (``env.kwargs.proofs`` for
``agentrl collect env=coq agent=expert``: the expert-iteration dataset) and
``OUTPUT/results.json`` the figures, also printed.

``prove.proposer=automation`` (default) proposes a fixed list of automation tactics;
``prove.proposer=model`` samples tactics from ``model`` (``proposer.*``: candidates per
state, temperature), with the prompt the Coq env's LLM agent sees, optionally with the
weights of a training run (``prove.init_from``, as ``train.init_from``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrl.agents.backends import BackendConfig
from agentrl.agents.models import ModelConfig
from agentrl.agents.prover import ModelProposerConfig
from agentrl.cli.config import load, print_config, store
from agentrl.envs.coq.search import SearchConfig


@dataclass
class ProveConfig:
    """Which problems to search and where the proofs go."""

    problems: str = "builtin"
    """``builtin`` or a folder / .v file of problems (set by PATH)."""
    split: str = "all"
    """``train``, ``test`` (every third problem of each tier) or ``all``."""
    tiers: list[int] = field(default_factory=list)
    """Only these tiers (empty: all)."""
    output: str = ""
    """Folder for proofs/, proofs.json and results.json ('' : runs/prove/<problems>-<split>)."""
    proposer: str = "automation"
    """Where candidate steps come from: ``automation`` (a fixed tactic list plus case analysis on variables) or
    ``model`` (tactics sampled from ``model``, summed log-probs as priorities; ``proposer.*`` sets the sampling)."""
    init_from: str = ""
    """With ``proposer=model``: start from the policy weights of a training run (its folder, newest checkpoint, or
    a checkpoint file), e.g. an ``algo=sft`` run on found proofs; as ``train.init_from``."""


@dataclass
class ProveRunConfig:
    """Settings of ``agentrl prove``."""

    prove: ProveConfig = field(default_factory=ProveConfig)
    """Problems, split, output."""
    search: SearchConfig = field(default_factory=SearchConfig)
    """Budgets of each theorem's search."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The model of ``prove.proposer=model`` (``model=smollm2|tiny`` or an HF id / path); unused otherwise."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """What generates the model's tactics (``hf`` in-process; ``prove.init_from`` needs it)."""
    proposer: ModelProposerConfig = field(default_factory=ModelProposerConfig)
    """Sampling of ``prove.proposer=model``: candidates per state, samples, temperature."""


store("prove_schema", ProveRunConfig)
PROPOSERS = ("automation", "model")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "prove",
        help="best-first proof search over Coq problems; writes and re-checks the proofs, prints solved/total",
        description="Search for proofs of Coq problems (PATH: builtin, a folder or a .v file). Extra KEY=VALUE "
        "arguments are Hydra overrides, e.g. search.max_nodes=400 search.max_seconds=120 prove.split=test.",
    )
    parser.add_argument("path", help="builtin, or a folder / .v file of problems (miniF2F style)")
    parser.add_argument("--print-config", action="store_true", help="print the composed config and exit")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    from agentrl.envs.coq import check_proof_file, load_problems
    from agentrl.envs.coq.search import ProofSearch

    problems_arg = args.path if args.path == "builtin" else str(Path(args.path).expanduser().resolve())
    cfg = load("prove", [f"prove.problems='{problems_arg}'", *overrides], ProveRunConfig)
    if args.print_config:
        print_config(cfg)
        return 0
    p = cfg.prove
    if p.proposer not in PROPOSERS:
        raise ValueError(f"prove.proposer must be one of {', '.join(PROPOSERS)}, not {p.proposer!r}")
    if p.init_from and p.proposer != "model":
        raise ValueError("prove.init_from loads a policy's weights: it needs prove.proposer=model")
    problems = load_problems(p.problems, p.split, p.tiers or None)
    proposer, close_proposer, weights = make_proposer(cfg)
    out = Path(p.output or f"runs/prove/{Path(p.problems).stem}-{p.split}")
    (out / "proofs").mkdir(parents=True, exist_ok=True)
    search = ProofSearch(proposer, cfg.search)
    rows, proofs = [], {}
    started = time.monotonic()
    try:
        for number, problem in enumerate(problems, 1):
            result = search.prove(problem)
            row = asdict(result)
            if result.solved:
                path = out / "proofs" / f"{problem.name}.v"
                path.write_text(problem.source_text("\n".join(result.proof)), encoding="utf-8")
                verdict = check_proof_file(problem, path.read_text(encoding="utf-8"), sandbox=cfg.search.sandbox)
                row["rechecked"] = verdict.ok
                if verdict.ok:
                    proofs[problem.name] = result.proof
                else:
                    row["solved"], row["reason"] = False, f"the written proof does not re-check: {verdict.reason}"
            rows.append(row)
            mark = "solved" if row["solved"] else f"not solved ({row['reason']})"
            print(f"[{number}/{len(problems)}] {problem.name} (tier {problem.tier}): {mark}", flush=True)
    finally:
        search.close()
        close_proposer()
    by_tier: dict[str, dict[str, int]] = {}
    for row in rows:
        tier = by_tier.setdefault(str(row["tier"]), {"solved": 0, "total": 0})
        tier["solved"] += int(row["solved"])
        tier["total"] += 1
    seconds = time.monotonic() - started
    nodes = sum(r["nodes"] for r in rows)
    summary = {
        "problems": p.problems,
        "split": p.split,
        "proposer": p.proposer,
        "model": cfg.model.name if p.proposer == "model" else None,
        "weights": weights,
        "solved": sum(int(r["solved"]) for r in rows),
        "total": len(rows),
        "by_tier": by_tier,
        "nodes": nodes,
        "nodes_per_s": nodes / seconds if seconds else 0.0,
        "seconds": seconds,
        "search": asdict(cfg.search),
        "output": str(out),
    }
    (out / "proofs.json").write_text(json.dumps(proofs, indent=1), encoding="utf-8")
    (out / "results.json").write_text(json.dumps({**summary, "results": rows}, indent=1), encoding="utf-8")
    print(json.dumps(summary, indent=1))
    return 0


def make_proposer(cfg: ProveRunConfig) -> tuple[Any, Any, str | None]:
    """The proposer ``prove.proposer`` names, a function that releases it, and the weights it uses (a model's
    checkpoint, or None)."""
    from agentrl.envs.coq.search import AutomationProposer

    if cfg.prove.proposer == "automation":
        return AutomationProposer(), lambda: None, None
    import torch

    from agentrl.agents.backends import load_backend
    from agentrl.agents.prover import ModelProposer
    from agentrl.trainer.checkpoint import load_init_weights

    if cfg.prove.init_from and cfg.backend.name != "hf":
        raise ValueError("prove.init_from loads weights into an in-process model: use backend.name=hf (the default)")
    torch.manual_seed(cfg.model.seed)
    backend, tokenizer, model = load_backend(cfg.backend, cfg.model)
    weights = cfg.model.name
    if cfg.prove.init_from:
        # the hf backend generates with this very model object
        weights = str(load_init_weights(model, cfg.prove.init_from, "prove.init_from"))
    return ModelProposer(backend, tokenizer, cfg.proposer), backend.close, weights
