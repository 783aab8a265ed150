"""``agentrl sandbox``: run a command, report a missing backend clearly, clean up."""

from __future__ import annotations

import json

from agentrl.cli import main
from tests.sandboxes.conftest import backend_or_skip


def test_sandbox_run_prints_output_and_returns_the_exit_code(capsys):
    backend_or_skip("bubblewrap")
    assert main(["sandbox", "run", "echo hi; exit 3"]) == 3
    assert capsys.readouterr().out == "hi\n"
    assert main(["sandbox", "run", "--json", "--timeout", "1", "sleep 5"]) == 137
    result = json.loads(capsys.readouterr().out)
    assert result["timed_out"] and result["exit_code"] == 137


def test_a_missing_docker_image_is_a_clear_error(capsys):
    backend_or_skip("docker")
    code = main(["sandbox", "run", "--backend", "docker", "--image", "agentrl/no-such-image:1", "true"])
    err = capsys.readouterr().err
    assert code == 2 and "agentrl/no-such-image:1" in err and "not on this machine" in err


def test_clean_reports_what_it_removed(capsys):
    assert main(["sandbox", "clean"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"workdirs", "cgroups", "docker"}
