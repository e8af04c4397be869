"""``kgfilters status``: each stage of a run, done / stale / missing, and the command that makes it."""

from __future__ import annotations

import argparse
import json

from kgfilters.cli.common import add_run

ORDER = 5


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="show each stage of a run: done, stale or missing, with the command that makes it",
        description="Read run.json and the run's files (nothing is written) and show every stage "
        "of the stage registry: done, stale (an input changed since the stage ran: the model, the "
        "statistics, the tags, the trained generators of a saved explanation's areas, ...; or a stage "
        "it depends on is stale) or missing, with why and the command that makes it (again). Exit "
        "status 0 even when stages are stale or missing.",
        epilog="examples:\n  kgfilters status --run runs/fm\n  kgfilters status --run runs/fm --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.stages import run_status

    status = run_status(args.run)
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    print(f"{args.run} (generation {status.generation})")
    width = max(len(s.name) for s in status)
    for s in status:
        when = f"  {s.finished}" if s.state != "missing" and s.finished else ""
        why = f"  ({s.reason or s.note})" if s.reason or s.note else ""
        todo = "" if s.state == "done" else f"  -> {s.command}"
        print(f"  {s.name:<{width}}  {s.state:<7}{when}{why}{todo}")
    return 0
