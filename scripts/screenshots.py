"""Screenshots of the TUI's main views as SVG files (Textual's own export), for the README.

    .venv/bin/python scripts/screenshots.py [RUN] [--out docs/img] [--size 120x40]

RUN defaults to runs/fashion-mnist (``make demo``). Drives the app headless, as the tests do, so
the pictures always show the current code; re-run after changing a view.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The held-out image the explain view shows (the demo's misclassified Dress, issue 12).
EXPLAIN_INDEX = 7


async def shoot(run: Path, out: Path, size: tuple[int, int]) -> list[Path]:
    from textual.widgets import Input, TextArea

    from kgfilters.tui import KgfApp
    from kgfilters.tui.explain_pane import ExplainPane

    app = KgfApp(run)
    written: list[Path] = []

    async def settle() -> None:
        await app.workers.wait_for_complete()
        await pilot.pause()

    def save(name: str) -> None:
        written.append(Path(app.save_screenshot(f"{name}.svg", str(out))))

    async with app.run_test(size=size) as pilot:
        await settle()
        save("browser")
        await pilot.press("slash", *"footwear")
        await pilot.pause(0.5)
        await settle()
        await pilot.press("enter")
        await settle()
        save("browser-search")
        await pilot.press("2")
        await settle()
        pane = app.query_one(ExplainPane)
        await pilot.press("g")
        app.screen.query_one(Input).value = str(EXPLAIN_INDEX)
        await pilot.press("enter")
        await settle()
        if pane.explanation is not None:
            save("explain")
        await pilot.press("3")
        await settle()
        save("concepts")
        await pilot.press("4")
        await settle()
        app.query_one(TextArea).text = (
            "SELECT ?filter ?concept ?support WHERE { ?f kgf:hasCoarseConcept ?n . ?n kgf:concept ?concept ; "
            "kgf:support ?support . BIND(?f AS ?filter) } ORDER BY DESC(?support) ?filter LIMIT 50\n")
        await pilot.press("ctrl+r")
        await settle()
        save("query")
        await pilot.press("escape", "5")
        await settle()
        save("summary")
        await pilot.press("question_mark")
        await settle()
        save("help")
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", type=Path, default=ROOT / "runs" / "fashion-mnist")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--size", default="120x40", help="terminal columns x rows (default 120x40)")
    args = ap.parse_args()
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    if not (args.run / "run.json").is_file():
        raise SystemExit(f"screenshots: {args.run}/run.json: no run there (make demo, or pass RUN)")
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(args.run, args.out, (cols, rows))):
        print(f"written: {path}")


if __name__ == "__main__":
    main()
