"""``agentrl webshop serve`` (a person's shop on loopback) and ``agentrl webshop oracle``."""

from __future__ import annotations

import json

import httpx

from agentrl.cli import main


def test_serve_for_a_person(serve_command):
    with serve_command("webshop", "serve", "--split", "eval", "--n-products", "300") as (url, _):
        assert httpx.get(url + "/health").json()["products"] == 300
        page = httpx.get(url + "/", params={"goal": 2}, follow_redirects=True)
        assert page.status_code == 200 and "Instruction:" in page.text
        results = httpx.get(str(page.url).split("?")[0] + "/search", params={"q": "black"}, follow_redirects=True)
        assert "Page 1 (Total results: " in results.text


def test_oracle_command(capsys):
    assert main(["webshop", "oracle", "--split", "eval", "-n", "20"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["goals"] == 20 and figures["success"] == 1.0 and figures["split"] == "eval"


def test_oracle_command_page_expert(capsys):
    assert main(["webshop", "oracle", "--split", "eval", "-n", "40", "--expert-view", "page"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["goals"] == 40 and figures["expert_view"] == "page" and 0.3 < figures["success"] < 1.0


def test_bad_split_is_a_usage_error(capsys):
    try:
        main(["webshop", "oracle", "--split", "dev"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid choice" in capsys.readouterr().err
