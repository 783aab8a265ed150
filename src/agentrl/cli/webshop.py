"""``agentrl webshop``: serve the WebShop site for a person, and measure the oracle.

agentrl webshop serve --port 3000            # open http://127.0.0.1:3000/ in a browser
agentrl webshop serve --split test --goal 7  # every new visitor gets test goal 7
agentrl webshop oracle --split test          # oracle success on the 500 test goals (text mode)
agentrl webshop oracle --mode browser -n 20  # ... and in headless Chromium
agentrl webshop oracle --expert-view page    # the expert that reads only the pages
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agentrl.envs.webshop.catalog import SPLITS
from agentrl.envs.webshop.oracle import EXPERT_VIEWS


def _shop_flags(parser: Any) -> None:
    parser.add_argument("--split", choices=SPLITS, default="test", help="the goals to draw from (default test)")
    parser.add_argument("--data-dir", default=None, help="a directory with the original WebShop data files")
    parser.add_argument("--synthetic-goals", action="store_true", help="with --data-dir: the synthetic goals")
    parser.add_argument("--catalog-seed", type=int, default=0, help="seed of the generated catalogue")
    parser.add_argument("--n-products", type=int, default=1200, help="size of the generated catalogue")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "webshop",
        help="serve the WebShop site, measure the oracle",
        description="Serve the WebShop site over HTTP for a person, or measure the oracle policy on a split.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve the site (each visit of / starts a session on the next goal)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="TCP port (default 3000)")
    _shop_flags(serve)
    serve.set_defaults(run=run_serve)
    oracle = actions.add_parser("oracle", help="play the oracle on a split and print success and score as JSON")
    oracle.add_argument("--mode", choices=("text", "browser"), default="text")
    oracle.add_argument("-n", "--goals", type=int, default=None, help="the first N goals of the split (default all)")
    oracle.add_argument(
        "--expert-view",
        choices=EXPERT_VIEWS,
        default="oracle",
        help="oracle: the catalogue's expert (default); page: the expert that reads only the pages",
    )
    _shop_flags(oracle)
    oracle.set_defaults(run=run_oracle_command)


def _kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "split": args.split,
        "data_dir": args.data_dir,
        "human_goals": not args.synthetic_goals,
        "catalog_seed": args.catalog_seed,
        "n_products": args.n_products,
    }


def run_serve(args: argparse.Namespace, _extra: list[str]) -> int:
    import uvicorn

    from agentrl.envs.webshop.app import Site, create_app
    from agentrl.envs.webshop.env import load_shop

    kwargs = _kwargs(args)
    shop = load_shop(kwargs["data_dir"], kwargs["human_goals"], kwargs["catalog_seed"], kwargs["n_products"])
    site = Site(shop, shop.catalog.split(args.split))
    print(
        f"WebShop: {len(shop.catalog.products)} products, {len(site.goals)} {args.split} goals "
        f"on http://{args.host}:{args.port}/ (?goal=N picks a goal)",
        flush=True,
    )
    uvicorn.run(create_app(site), host=args.host, port=args.port, log_level="warning")
    return 0


def run_oracle_command(args: argparse.Namespace, _extra: list[str]) -> int:
    import agentrl
    from agentrl.envs.webshop.oracle import run_oracle

    env_id = "agentrl/WebShop-v1" if args.mode == "text" else "agentrl/WebShop-Browser-v1"
    env = agentrl.make(env_id, **_kwargs(args), expert_view=args.expert_view)
    try:
        n = len(env.unwrapped.goals if args.mode == "text" else env.unwrapped.site.goals)
        figures = run_oracle(env, range(min(n, args.goals) if args.goals else n))
    finally:
        env.close()
    figures["failed"] = figures["failed"][:20]
    print(json.dumps({"env": env_id, "split": args.split, "expert_view": args.expert_view, **figures}))
    return 0
