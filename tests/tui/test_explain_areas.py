"""The explain view's areas (key a): the masks shown are the run's trained generator's output for
the explained image, for its separating filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgfilters.explain_masks import masks_for_image
from kgfilters.fsagn.stage import sensitive_stage
from kgfilters.run import load_run
from tests.kgfilters.test_explain_masks import CPU, FAST


async def test_explain_view_shows_the_generator_masks_of_its_separating_filters(trained_run: Path) -> None:
    from kgfilters.explain import explain_image
    from kgfilters.explain_text import contrast
    from kgfilters.pipeline import tag_run
    from kgfilters.tui import KgfApp
    from kgfilters.tui.explain_pane import ExplainPane

    tag_run(trained_run, method="k-best", param=3, device=CPU, progress=False)
    run = load_run(trained_run)
    index, sep = next((i, s) for i in range(60) if (s := contrast(explain_image(run, index=i)).separating))
    wanted = [(f.layer, f.filter) for f, _ in sep]
    sensitive_stage(trained_run, filters=wanted[:2], options=FAST, device=CPU)
    app = KgfApp(trained_run, catalog=())
    async with app.run_test(size=(120, 48)) as pilot:
        await pilot.press("2")
        await app.workers.wait_for_complete()
        pane = app.query_one(ExplainPane)
        await pilot.press("a")  # areas on (the shown image is explained again)
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane.index = index - 1
        await pilot.press("n")  # the chosen image
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert pane.explanation is not None and pane.explanation.index == index
        shown = pane.shown_areas
        assert shown is not None and len(shown.masks) == len(wanted[:2])
        img, _ = run.splits.heldout[index]
        want = masks_for_image(load_run(trained_run), img, wanted)
        assert [(m.layer, m.filter, m.strategy) for m in shown.masks] == [(m.layer, m.filter, m.strategy)
                                                                          for m in want.masks]
        for a, b in zip(shown.masks, want.masks, strict=True):
            np.testing.assert_allclose(a.mask, b.mask, atol=1e-6)
        assert shown.missing == tuple(wanted[2:])
        captions = [str(s.content) for s in pane.query(".area-caption")]
        assert len(captions) == len(shown.masks)
        assert captions[0].startswith(f"{wanted[0][0]}:{wanted[0][1]} (")
