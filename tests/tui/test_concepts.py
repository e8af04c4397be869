"""The concept view as a tree of labels, concept search by label and notation, and numeric search
matching filter indices only."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Tree

from kgfilters.tui import KgfApp
from kgfilters.tui.concept_pane import ConceptPane
from kgfilters.tui.concept_tree import build_forest, concept_label, load_forest
from kgfilters.tui.filter_screen import FilterScreen
from kgfilters.tui.runview import RunView
from tests.tui.test_app_pilot import SIZE, settle

WN = "http://wn/"


def _forest():  # type: ignore[no-untyped-def]
    # entity > covering > clothing > garment > {shirt, trousers}; footwear under covering AND
    # under commodity (two parents); an isolated concept nobody uses; a broader cycle a <-> b.
    concepts = [(f"{WN}{n}", n.replace("_", " "), f"{n}.n.01") for n in
                ("entity", "covering", "clothing", "garment", "shirt", "trousers", "footwear", "sandal",
                 "commodity", "unused", "a", "b")]
    broader = [("covering", "entity"), ("clothing", "covering"), ("garment", "clothing"), ("shirt", "garment"),
               ("trousers", "garment"), ("footwear", "covering"), ("footwear", "commodity"),
               ("commodity", "entity"), ("sandal", "footwear"), ("unused", "entity"), ("a", "b"), ("b", "a")]
    denotes = [("Shirt", "shirt"), ("T-shirt", "shirt"), ("Trouser", "trousers"), ("Sandal", "sandal"),
               ("Bag", "a")]
    coarse = [(("conv2", 0), "garment"), (("conv2", 1), "garment"), (("conv2", 1), "clothing"),
              (("conv1", 3), "footwear"), (("conv2", 7), "shirt")]
    w = lambda s: f"{WN}{s}"  # noqa: E731
    return build_forest(concepts, [(w(a), w(b)) for a, b in broader], [(k, w(c)) for k, c in denotes],
                        [(f, w(c)) for f, c in coarse])


def test_forest_counts_each_class_and_filter_once_under_every_ancestor() -> None:
    f = _forest()
    c = f.concepts
    assert f"{WN}unused" not in c  # neither denoted, coarse, nor above one
    assert f.roots == (f"{WN}entity",)  # a and b each have a parent: a cycle has no root
    assert f"{WN}entity" in f.roots and not c[f"{WN}entity"].parents
    entity = c[f"{WN}entity"]
    assert (entity.classes_under, entity.filters_under) == (4, 4)  # Shirt, T-shirt, Trouser, Sandal; 0, 1, 3, 7
    assert (c[f"{WN}garment"].classes_under, c[f"{WN}garment"].filters_under) == (3, 3)
    assert c[f"{WN}clothing"].filters == (("conv2", 1),) and c[f"{WN}clothing"].filters_under == 3
    assert set(c[f"{WN}footwear"].parents) == {f"{WN}covering", f"{WN}commodity"}
    assert c[f"{WN}commodity"].classes_under == 1
    # children: most filters first
    assert c[f"{WN}covering"].children == (f"{WN}clothing", f"{WN}footwear")
    # the cycle keeps both concepts, each under the other, without looping
    assert c[f"{WN}a"].classes_under == 1 and c[f"{WN}b"].classes_under == 1
    assert concept_label(c[f"{WN}garment"]) == "[b]garment[/b]  [dim]garment.n.01[/dim] · 3 classes · 3 filters"


def test_search_by_label_and_notation() -> None:
    f = _forest()
    filters, classes = f.search("clothing")
    assert set(filters) == {("conv2", 0), ("conv2", 1), ("conv2", 7)}
    assert set(classes) == {"Shirt", "T-shirt", "Trouser"}
    filters, classes = f.search("FOOTWEAR.n")  # notation, any case
    assert set(filters) == {("conv1", 3)} and set(classes) == {"Sandal"}
    assert f.search("garment")[0][("conv2", 1)] == ("garment",)
    assert f.search("  ") == ({}, {})


def test_numeric_search_matches_filter_indices_only(tagged_run: Path) -> None:
    view = RunView.open(tagged_run)
    concepts = {("conv2", 3): ("http://wordnet-rdf.princeton.edu/wn30/03419025-n",), ("conv2", 4): ("a25",)}
    rows = view.filters("conv2", query="25", concepts=concepts)
    assert [r.index for r in rows] == [25]
    assert [r.index for r in view.filters("conv2", query="a25", concepts=concepts)] == [4]


async def test_concept_tree_labels_counts_and_jump_to_filter_and_back(full_run: Path) -> None:
    app = KgfApp(full_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        tree = app.query_one("#concept-tree", Tree)
        roots = tree.root.children
        assert [n.data for n in roots] == [("concept", "http://conceptnet.io/c/en/clothing")]
        assert str(roots[0].label) == "clothing  /c/en/clothing · 2 classes · 2 filters"
        garment = roots[0].children[0]  # a chain of one child opens by itself
        assert garment.is_expanded and str(garment.label) == "garment  /c/en/garment · 2 classes · 2 filters"
        leaves = [n.data for n in garment.children]
        assert ("filter", "conv2", 0) in leaves and ("filter", "conv2", 1) in leaves
        node = next(n for n in garment.children if n.data == ("filter", "conv2", 1))
        tree.move_cursor(node)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen) and app.screen.filter_index == 1
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, FilterScreen)
        assert app.focused is tree and tree.cursor_node is node  # back where we were
        tree.move_cursor(garment)
        await pilot.press("f")  # the concept's filters in the browser
        await settle(app, pilot)
        assert app.query_one("#browser-search").value == "garment"
        await settle(app, pilot)
        btree = app.query_one("#browser-tree", Tree)
        shown = [n.data for layer in btree.root.children for n in layer.children]
        assert shown == [("filter", "conv2", 0), ("filter", "conv2", 1)]
        assert app.query_one(ConceptPane).select_concept("http://conceptnet.io/c/en/garment")
        # and from a filter back to its concept: t in the filter view
        app.open_filter("conv2", 0)
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(app.screen, FilterScreen) and app.query_one("#views").active == "concepts"
        assert tree.cursor_node is not None and tree.cursor_node.data == ("concept", "http://conceptnet.io/c/en/garment")


async def test_browser_search_finds_filters_under_a_broader_label(full_run: Path) -> None:
    app = KgfApp(full_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        for text, want in (("clothing", [("filter", "conv2", 0), ("filter", "conv2", 1)]),
                           ("25", [("filter", "conv1", 25), ("filter", "conv2", 25)])):
            app.query_one("#browser-tree").focus()
            await pilot.press("slash", *text)
            await settle(app, pilot)
            await pilot.pause(0.3)
            await settle(app, pilot)
            tree = app.query_one("#browser-tree", Tree)
            assert [n.data for layer in tree.root.children for n in layer.children] == want, text
            app.query_one("#browser-search").value = ""
            await settle(app, pilot)
            await pilot.pause()
    assert load_forest(app.graph).concepts  # the forest is kept per store
