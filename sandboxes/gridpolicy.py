"""GridPolicy: code as policy on GRASP-style grids, refined from the env's feedback (IPP style).

The agent does not move on the grid itself: it writes a Python program defining
``plan(state) -> list[str]`` (see :mod:`agentrl.sandboxes.grasp` for the rules and the
``state`` dict). Each attempt runs the program in the sandbox on the episode's
``n_instances`` grids (drawn from the reset seed), the host simulates the returned
plans and answers with the score on each grid, the mean, and any error the program
raised, so the agent can refine its program. The program is untrusted: it only ever
runs in the sandbox, and it only returns action lists; the host does the scoring.

Reward: the improvement of the best mean score so far (the empty plan scores 0), so
an episode's return is its best mean score. ``info["score"]`` is that best score;
``won`` is reaching the expert program's mean score. The episode ends when it is won,
after ``max_attempts`` programs, or on the action ``done``. Anything that is neither a
program defining ``plan`` nor ``done`` is an invalid action.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, ClassVar, SupportsFloat

from agentrl.sandboxes import grasp_expert
from agentrl.sandboxes.base import SandboxConfig
from agentrl.sandboxes.grasp import ACTIONS, GraspInstance, GraspVariant, generate, simulate
from agentrl.sandboxes.taskenv import SandboxedTextEnv, fenced_blocks, new_nonce, result_line

EXPERT_SOURCE = inspect.getsource(grasp_expert)

# Runs in the sandbox: read the nonce, load the agent's program, plan every instance.
RUNNER = r"""
import json, sys, traceback
nonce = sys.stdin.readline().strip()
sys.path.insert(0, ".")
states = json.load(open("instances.json"))
out = []
try:
    namespace = {"__name__": "policy"}
    exec(compile(open("policy.py").read(), "policy.py", "exec"), namespace)
    plan = namespace.get("plan")
    if not callable(plan):
        raise NameError("the program does not define a function plan(state)")
except BaseException:
    print(nonce + json.dumps({"error": traceback.format_exc(limit=3)[-1500:]}), flush=True)
    raise SystemExit(0)
for state in states:
    try:
        moves = plan(json.loads(json.dumps(state)))
        if not isinstance(moves, (list, tuple)):
            raise TypeError(f"plan must return a list of action names, got {type(moves).__name__}")
        out.append({"plan": [m if isinstance(m, str) else repr(m) for m in list(moves)[:1000]]})
    except BaseException:
        out.append({"error": traceback.format_exc(limit=3)[-1500:]})
print(nonce + json.dumps({"results": out}), flush=True)
"""


def _program(text: str) -> str | None:
    """The program in an action: a fenced python block, or the raw text, that defines ``plan``."""
    for language, body in fenced_blocks(text):
        if language in ("", "python", "py", "python3") and "def plan" in body:
            return body
    stripped = text.strip()
    if "def plan" in stripped and "```" not in stripped:
        try:
            compile(stripped, "policy.py", "exec")
        except (SyntaxError, ValueError):
            return None
        return stripped
    return None


class GridPolicyEnv(SandboxedTextEnv[str]):
    """Write a GRASP policy program, see its scores, improve it.

    Args:
        n_instances: Grids each program is scored on.
        max_attempts: Programs per episode.
        size: Grid side.
        distribution: Energy distribution (``uniform``, ``clustered``, ``sparse``).
        start: Start cell (``center``, ``corner``, ``random``).
        obstacles: ``none`` or ``walls``.
        capacity: Most energy carried at once (None: unlimited).
        cost: Score cost per step.
        max_steps: Actions per grid.
        program_timeout_s: Wall-clock limit of one program run over all grids.
        sandbox: Sandbox settings (see :class:`~agentrl.sandboxes.taskenv.SandboxedTextEnv`).
        expert: Put the expert program in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You are programming the policy of an energy-collection grid game; the rules, the state format and your "
        "number of attempts come with the task. Reply with one complete Python program that defines plan(state) "
        "and returns the list of action names to play, in a ```python block. It runs in a sandbox on several "
        "grids and you get each grid's score back: improve the program from them. Reply done to stop."
    )

    def __init__(
        self,
        n_instances: int = 5,
        max_attempts: int = 5,
        size: int = 11,
        distribution: str = "uniform",
        start: str = "center",
        obstacles: str = "none",
        capacity: int | None = None,
        cost: float = 0.1,
        max_steps: int = 20,
        program_timeout_s: float = 10.0,
        sandbox: SandboxConfig | dict[str, Any] | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(sandbox, expert=expert, render_mode=render_mode)
        if n_instances < 1 or max_attempts < 1:
            raise ValueError("n_instances and max_attempts must be at least 1")
        self.variant = GraspVariant(size, distribution, start, obstacles, capacity, float(cost), max_steps)
        self.n_instances, self.max_attempts = int(n_instances), int(max_attempts)
        self.program_timeout_s = float(program_timeout_s)
        self.instances: list[GraspInstance] = []
        self.expert_score = 0.0
        self.best_score = 0.0
        self.attempts = 0
        self._feedback = ""
        self.task = self._rules()

    def _rules(self) -> str:
        v = self.variant
        capacity = "unlimited" if v.capacity is None else str(v.capacity)
        return (
            f"Write a Python program that defines plan(state) -> list[str] for a {v.size}x{v.size} energy-collection "
            f"grid. You start on the start cell S with empty hands and have {v.max_steps} actions: "
            f"{', '.join(ACTIONS)}. 'take' picks up the energy on your cell (carrying capacity {capacity}); "
            "'drop' on S delivers what you carry. Moving into a wall or obstacle wastes the step. "
            "Score = energy delivered - "
            f"{v.cost} x actions in the plan (a shorter plan costs less). state = {{'size', 'start': [row, col], "
            "'energy': rows of ints, 'obstacles': [[row, col], ...], 'max_steps', 'cost', 'capacity'}; row 0 is the "
            f"top ('up' decreases the row). Your program is scored on {self.n_instances} grids and you get the "
            f"scores back; you have {self.max_attempts} attempts. Reply with the program in a ```python block, or "
            "'done' to stop."
        )

    # -- engine ---------------------------------------------------------------------------

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        base = int(options.get("task_id", seed))
        self.instances = [generate(base * 1009 + i, self.variant) for i in range(self.n_instances)]
        scores = [simulate(inst, grasp_expert.plan(inst.state())).score for inst in self.instances]
        self.expert_score = round(sum(scores) / len(scores), 6)
        self.best_score = 0.0
        self.attempts = 0
        self._feedback = f"Grid 1 of {self.n_instances}:\n{self.instances[0].ascii()}"

    def run_program(self, program: str) -> list[dict[str, Any]]:
        """Run ``program`` in the sandbox on every instance; per instance a score or an error."""
        if self.attempts <= 1:
            self.clear_workdir()  # a new episode: nothing of the last one's programs stays
        sandbox = self.sandbox
        sandbox.put_file("policy.py", program)
        sandbox.put_file("instances.json", json.dumps([inst.state() for inst in self.instances]))
        sandbox.put_file("runner.py", RUNNER)
        nonce = new_nonce()
        result = sandbox.run(["python3", "-I", "runner.py"], timeout=self.program_timeout_s, stdin=nonce + "\n")
        report = result_line(result, nonce)
        if report is None or "results" not in report:
            if result.timed_out:
                reason = f"the program ran past {self.program_timeout_s:g} s and was killed"
            elif report is not None:
                reason = f"the program failed to load:\n{report.get('error', '')}"
            else:
                reason = "the program crashed the runner:\n" + result.summary(800)
            return [{"error": reason} for _ in self.instances]
        outcomes: list[dict[str, Any]] = []
        for inst, item in zip(self.instances, report["results"], strict=False):
            if "plan" in item:
                sim = simulate(inst, list(item["plan"]))
                outcomes.append(
                    {"score": sim.score, "delivered": sim.delivered, "steps": sim.steps, "wasted": sim.wasted}
                )
            else:
                outcomes.append({"error": str(item.get("error", "no result"))})
        outcomes += [{"error": "no result"}] * (len(self.instances) - len(outcomes))
        return outcomes

    def _engine_step(self, command: str) -> tuple[SupportsFloat, bool, bool]:
        if command == "done":
            self._feedback = f"Stopped. Best mean score {self.best_score:g} (expert {self.expert_score:g})."
            return 0.0, True, False
        self.attempts += 1
        outcomes = self.run_program(command)
        scores = [float(o.get("score", 0.0)) for o in outcomes]
        mean = round(sum(scores) / len(scores), 6)
        lines = [f"Attempt {self.attempts}/{self.max_attempts}: mean score {mean:g}."]
        for i, outcome in enumerate(outcomes, 1):
            if "error" in outcome:
                lines.append(f"Grid {i}: error (score 0): {outcome['error'].strip()}")
            else:
                lines.append(
                    f"Grid {i}: score {outcome['score']:g} (delivered {outcome['delivered']}, {outcome['steps']} "
                    f"steps, {outcome['wasted']} wasted)"
                )
        reward = max(0.0, mean - self.best_score)
        self.best_score = max(self.best_score, mean)
        self.score = self.best_score
        self.won = self.best_score >= self.expert_score - 1e-6 and self.expert_score > 0
        done = self.won or self.attempts >= self.max_attempts
        lines.append(f"Best mean score so far {self.best_score:g}.")
        if self.won:
            lines.append("That matches the reference program: solved.")
        elif done:
            lines.append(f"No attempts left (the reference program scores {self.expert_score:g}).")
        else:
            lines.append(f"{self.max_attempts - self.attempts} attempts left; send an improved program.")
        self._feedback = "\n".join(lines)
        return reward, done, False

    def _render(self) -> str:
        return f"{self.task}\n\n{self._feedback}"

    def parse_action(self, action: str) -> str | None:
        if action.strip().lower().rstrip(".") == "done":
            return "done"
        return _program(action)

    def invalid_feedback(self, action: object) -> str:
        return "Invalid action: send a Python program that defines plan(state) (in a ```python block), or 'done'."

    def _compute_expert(self) -> str | None:
        if self.won or self.attempts >= self.max_attempts:
            return None
        return f"```python\n{EXPERT_SOURCE}```"
