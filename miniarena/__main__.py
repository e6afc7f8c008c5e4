"""python -m miniarena serve | tasks | oracle   (see miniarena/__init__.py)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import WEBARENA_PORTS, MiniArena


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m miniarena", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="start all five sites and print their URLs in env-file form")
    s.add_argument("--seed", type=int, default=0, help="data seed (the same seed gives the same sites)")
    s.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    s.add_argument("--webarena-ports", action="store_true", help="bind WebArena's ports (7770, 7780, 9999, 8023, 3000)")
    s.add_argument("--token-file", help="write the control token (needed for remote resets) to this file")
    t = sub.add_parser("tasks", help="write a split's tasks as a JSON list of WebArena configs")
    t.add_argument("--split", choices=["train", "test"], required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="output file ('-' for stdout)")
    sub.add_parser("oracle", help="play tasks with their oracles through env.py and report the solve rate",
                   add_help=False)
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "oracle":
        from .oracle import main as oracle_main
        return oracle_main(argv[1:])
    args = ap.parse_args(argv)

    if args.cmd == "serve":
        arena = MiniArena(args.seed, args.host, WEBARENA_PORTS if args.webarena_ports else None).start()
        print(arena.env_lines(), flush=True)
        if args.token_file:
            with open(args.token_file, "w") as f:
                f.write(arena.token)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            arena.stop()
        return 0

    from .tasks import build
    configs = build(args.split, args.seed)
    text = json.dumps(configs, indent=1, ensure_ascii=False)
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(args.out, "w") as f:
            f.write(text)
        by_site = {}
        for c in configs:
            by_site[c["sites"][0]] = by_site.get(c["sites"][0], 0) + 1
        print(f"wrote {len(configs)} {args.split} tasks to {args.out}: {by_site}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
