"""CodeTask: fix a bug, implement a function or make failing tests pass, inside a sandbox.

Each episode loads one task of :mod:`agentrl.sandboxes.codetask_tasks` into the
sandbox's work dir and shows the instruction and the starting files. The agent acts
with shell commands and file edits, all of which happen in the sandbox:

* ``run <command>`` (or a fenced ``bash``/``sh`` block): run a shell command in the work
  dir and see its exit code and output;
* ``write <path>`` then the new content on the following lines (optionally fenced);
* ``edit <path>`` then one or more blocks ``<<<<<<< SEARCH`` / old text / ``=======`` /
  new text / ``>>>>>>> REPLACE``: each old text (whole lines, indentation included) must
  match exactly one place in the file, which its new text replaces. An old text that
  matches several places, or only part of a line, changes nothing: the answer lists
  the candidates with their line numbers (an edit that fails is a valid action, as a
  command that fails is);
* ``submit``: run the task's hidden unit tests and end the episode.

Reward 1 when every hidden test passes, else 0; ``info["score"]`` is the fraction of
hidden tests that passed. The hidden tests run in the sandbox next to the candidate
code; the result comes back on a line marked with a nonce the candidate never sees,
and it must count every hidden test, so a program that exits early or prints its own
verdict does not pass. (Candidate code in the same interpreter could still tamper with
``unittest`` itself; that is a benchmark-integrity limit, not a host-safety one.)
The expert writes the reference solution's files, then submits.
"""

from __future__ import annotations

import ast
import re
from typing import Any, ClassVar, SupportsFloat

from agentrl.sandboxes.base import SandboxConfig, SandboxError, work_path
from agentrl.sandboxes.codetask_tasks import TASKS, CodeTaskSpec
from agentrl.sandboxes.taskenv import SandboxedTextEnv, fenced_blocks, new_nonce, result_line

Command = tuple[str, ...]
KINDS = ("bugfix", "implement", "make-tests-pass")
HIDDEN_TESTS = ".agentrl_hidden_tests.py"
RUNNER_FILE = ".agentrl_runner.py"
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
_EDIT_BLOCK = re.compile(r"<<<<<<< SEARCH\n(.*?)\n?=======\n(.*?)\n?>>>>>>> REPLACE", re.DOTALL)

# Runs in the sandbox at submit: load the hidden tests (which import the candidate code) and report.
RUNNER = r"""
import importlib.util, json, sys, unittest
nonce = sys.stdin.readline().strip()
sys.path.insert(0, sys.argv[1])
report = {"run": 0, "failed": [], "error": None}
try:
    spec = importlib.util.spec_from_file_location("hidden_tests", sys.argv[2])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
    report["run"] = result.testsRun
    bad = result.failures + result.errors + [(t, "") for t in result.unexpectedSuccesses]
    report["failed"] = sorted({t.id().split(".")[-1] for t, _ in bad})
except BaseException as error:
    report["error"] = f"{type(error).__name__}: {error}"[:500]
print("\n" + nonce + json.dumps(report), flush=True)
"""


def count_tests(source: str) -> int:
    """Test methods (``test*`` functions inside classes) in a unittest module's source."""
    tree = ast.parse(source)
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test")
    )


def _line_aligned(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` begins at the start of a line and stops at the end of one."""
    starts = start == 0 or text[start - 1] == "\n" or text[start] == "\n"
    ends = end == len(text) or text[end] == "\n" or text[end - 1] == "\n"
    return starts and ends


def _show_candidates(text: str, spans: list[tuple[int, int]], limit: int = 5) -> str:
    """The lines of each span, numbered and marked ``>``, with a line of context either side."""
    lines = text.split("\n")[: text.count("\n") + (not text.endswith("\n"))]
    shown = []
    for start, end in spans[:limit]:
        first = text.count("\n", 0, start)
        last = text.count("\n", 0, max(start, end - 1))
        where = f"line {first + 1}" if first == last else f"lines {first + 1}-{last + 1}"
        numbered = [
            f"  {'>' if first <= n <= last else ' '} {n + 1:4d} | {lines[n]}"
            for n in range(max(0, first - 1), min(len(lines), last + 2))
        ]
        shown.append(f"{where}:\n" + "\n".join(numbered))
    if len(spans) > limit:
        shown.append(f"... and {len(spans) - limit} more.")
    return "\n".join(shown)


def find_search_text(text: str, old: str, path: str = "the file") -> tuple[int, int] | str:
    """Where the SEARCH text ``old`` of an edit lies in ``text`` (the file at ``path``), or why it cannot be used.

    ``old`` must be whole lines (it may start or end at a line break) found in exactly one
    place. Otherwise the answer says what is wrong and lists the candidates, so that the
    agent can pick the lines that make it unique: several whole-line matches are
    ambiguous; matches that start or end inside a line are partial.
    """
    spans = []
    at = text.find(old)
    while at != -1:
        spans.append((at, at + len(old)))
        at = text.find(old, at + 1)
    whole = [span for span in spans if _line_aligned(text, *span)]
    if len(whole) == 1:
        return whole[0]
    if len(whole) > 1:
        return (
            f"matches {len(whole)} places in {path}; nothing was changed. Add the lines around the one to change "
            f"so that the SEARCH text matches only there:\n{_show_candidates(text, whole)}"
        )
    if spans:
        return (
            f"matches only part of a line in {path}; nothing was changed. SEARCH must hold whole lines, "
            f"indentation included. Where it matches:\n{_show_candidates(text, spans)}"
        )
    return f"is not in {path}; nothing was changed."


def _unfence(text: str) -> str:
    """The body of ``text`` if it is exactly one fenced block, else ``text``."""
    stripped = text.strip("\n")
    if stripped.startswith("```") and stripped.rstrip().endswith("```"):
        blocks = fenced_blocks(stripped.rstrip() + "\n")
        if len(blocks) == 1:
            return blocks[0][1]
    return text


class CodeTaskEnv(SandboxedTextEnv[Command]):
    """Coding tasks with hidden tests, worked on in a sandbox.

    Args:
        task_ids: Restrict the episodes to these task ids (default: every task).
        kinds: Restrict the episodes to these kinds (``bugfix``, ``implement``, ``make-tests-pass``).
        command_timeout_s: Wall-clock limit of one ``run`` command and of the hidden tests.
        output_chars: Most characters of each output stream shown per command.
        sandbox: Sandbox settings (see :class:`~agentrl.sandboxes.taskenv.SandboxedTextEnv`).
        expert: Put the reference solution's next step in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You are a programmer fixing and writing Python code in a sandboxed Linux work dir; the files are shown at "
        "the start. Reply with exactly one action:\n"
        "run <shell command>: run it in the work dir and see its exit code and output (a ```bash block also runs);\n"
        "write <path>, then the file's complete new content on the following lines (optionally in a ```python "
        "block);\n"
        "edit <path>, then one or more blocks of the form\n<<<<<<< SEARCH\nold text\n=======\nnew text\n"
        ">>>>>>> REPLACE\nwhere each old text is whole lines of the file (indentation included) found in exactly one "
        "place, which the new text replaces;\n"
        "submit: run the hidden tests and end the episode.\n"
        "Paths must lie inside the work dir (relative ones start there)."
    )

    def __init__(
        self,
        task_ids: list[str] | None = None,
        kinds: list[str] | None = None,
        command_timeout_s: float = 10.0,
        output_chars: int = 2000,
        sandbox: SandboxConfig | dict[str, Any] | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(sandbox, expert=expert, render_mode=render_mode)
        by_id = {task["task_id"]: task for task in TASKS}
        unknown = sorted(set(task_ids or ()) - set(by_id)) + sorted(set(kinds or ()) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown CodeTask task ids or kinds {unknown}; kinds are {', '.join(KINDS)}")
        self.tasks = [
            task
            for task in TASKS
            if (not task_ids or task["task_id"] in task_ids) and (not kinds or task["kind"] in kinds)
        ]
        if not self.tasks:
            raise ValueError("no CodeTask task matches task_ids and kinds")
        self.command_timeout_s = float(command_timeout_s)
        self.output_chars = int(output_chars)
        self.current: CodeTaskSpec = self.tasks[0]
        self.n_hidden = 0
        self.submitted = False
        self._message = ""

    # -- engine ---------------------------------------------------------------------------

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        choice = options.get("task_id")
        if isinstance(choice, str):
            matches = [task for task in self.tasks if task["task_id"] == choice]
            if not matches:
                raise ValueError(f"unknown CodeTask task_id {choice!r}")
            self.current = matches[0]
        else:
            index = int(choice) if choice is not None else seed
            self.current = self.tasks[index % len(self.tasks)]
        self.task = self.current["instruction"]
        self.n_hidden = count_tests(self.current["tests"])
        self.submitted = False
        self.clear_workdir()
        files = self.current["files"]
        for path, content in sorted(files.items()):
            self.sandbox.put_file(path, content)
        shown = "\n\n".join(f"--- {path} ---\n{content.rstrip()}" for path, content in sorted(files.items()))
        self._message = (
            f"Task {self.current['task_id']} ({self.current['kind']}): {self.task}\n\n"
            f"Files in {self.sandbox_config.workdir}:\n\n{shown}\n\n"
            "Actions: 'run <shell command>', 'write <path>' + new content on the next lines, "
            "'edit <path>' + <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks, 'submit' to run the hidden tests."
        )

    def _engine_step(self, command: Command) -> tuple[SupportsFloat, bool, bool]:
        kind = command[0]
        if kind == "run":
            result = self.sandbox.run(command[1], timeout=self.command_timeout_s)
            self._message = f"$ {command[1]}\n{result.summary(self.output_chars)}"
        elif kind == "write":
            try:  # the agent's own links or files may stand in the way
                self.sandbox.put_file(command[1], command[2])
                self._message = f"Wrote {command[1]} ({len(command[2].splitlines())} lines)."
            except SandboxError as error:
                self._message = f"Cannot write {command[1]}: {error}"
        elif kind == "edit":
            self._message = self._edit(command[1], list(zip(command[2::2], command[3::2], strict=True)))
        else:
            return self._submit()
        return 0.0, False, False

    def _edit(self, path: str, blocks: list[tuple[str, str]]) -> str:
        try:
            text = self.sandbox.get_file(path).decode("utf-8")
        except (FileNotFoundError, UnicodeDecodeError, SandboxError) as error:
            return f"Cannot edit {path}: {error}"
        for i, (old, new) in enumerate(blocks, 1):
            found = find_search_text(text, old, path)
            if isinstance(found, str):
                return f"Edit failed: the SEARCH text of block {i} {found}"
            text = text[: found[0]] + new + text[found[1] :]
        try:
            self.sandbox.put_file(path, text)
        except SandboxError as error:
            return f"Cannot edit {path}: {error}"
        return f"Edited {path}: {len(blocks)} replacement(s)."

    def _submit(self) -> tuple[SupportsFloat, bool, bool]:
        self.submitted = True
        sandbox, workdir = self.sandbox, self.sandbox_config.workdir
        sandbox.put_file(HIDDEN_TESTS, self.current["tests"])
        sandbox.put_file(RUNNER_FILE, RUNNER)
        nonce = new_nonce()
        argv = ["python3", "-I", "-B", RUNNER_FILE, workdir, f"{workdir}/{HIDDEN_TESTS}"]
        result = sandbox.run(argv, timeout=self.command_timeout_s, stdin=nonce + "\n")
        sandbox.run(["rm", "-f", HIDDEN_TESTS, RUNNER_FILE], timeout=10)
        report = result_line(result, nonce)
        if report is None:
            why = "timed out" if result.timed_out else f"exited {result.exit_code} before reporting"
            passed, detail = 0, f"The hidden tests did not finish: the run {why}."
        elif report.get("error"):
            passed, detail = 0, f"The hidden tests could not run: {report['error']}"
        else:
            failed = list(report.get("failed", []))
            ran = int(report.get("run", 0))
            passed = max(0, ran - len(failed)) if ran == self.n_hidden else 0
            detail = f"Failing: {', '.join(failed)}." if failed else ""
            if ran != self.n_hidden:
                detail = f"Only {ran} of {self.n_hidden} hidden tests ran."
        self.score = passed / self.n_hidden if self.n_hidden else 0.0
        self.won = self.n_hidden > 0 and passed == self.n_hidden
        verdict = "All hidden tests pass: solved." if self.won else "Not solved."
        self._message = f"Hidden tests: {passed}/{self.n_hidden} passed. {detail} {verdict}".replace("  ", " ")
        return (1.0 if self.won else 0.0), True, False

    def _render(self) -> str:
        return self._message

    # -- actions --------------------------------------------------------------------------

    def parse_action(self, action: str) -> Command | None:
        text = action.strip()
        head, _, rest = action.lstrip().partition("\n")
        word, _, argument = head.strip().partition(" ")
        word, argument = word.lower(), argument.strip()
        try:
            if word == "submit" and not argument and not rest.strip():
                return ("submit",)
            if word == "run" and (argument or rest.strip()):
                command = "\n".join(part for part in (argument, _unfence(rest)) if part.strip())
                return ("run", command)
            if word == "write" and argument:
                work_path(self.sandbox_config, argument)
                return ("write", argument, _unfence(rest))
            if word == "edit" and argument:
                work_path(self.sandbox_config, argument)
                blocks = _EDIT_BLOCK.findall(rest + "\n")
                if not blocks or any(not old for old, _ in blocks):
                    return None
                return ("edit", argument, *(part for block in blocks for part in block))
        except ValueError:
            return None
        for language, body in fenced_blocks(text):
            if language in SHELL_LANGUAGES and body.strip():
                return ("run", body)
        return None

    def invalid_feedback(self, action: object) -> str:
        return (
            "Invalid action. Use 'run <shell command>', 'write <path>' followed by the file content, "
            "'edit <path>' followed by <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks, or 'submit'. "
            "Paths must stay inside the work dir."
        )

    def _compute_expert(self) -> str | None:
        if self.submitted:
            return None
        for path, content in sorted(self.current["solution"].items()):
            try:
                current = self.sandbox.get_file(path).decode("utf-8", errors="replace")
            except (FileNotFoundError, SandboxError):
                current = None
            if current != content:
                return f"write {path}\n```python\n{content}```"  # every solution file ends with a newline
        return "submit"
