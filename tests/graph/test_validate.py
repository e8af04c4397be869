"""SHACL validation: the built graph conforms; a broken one fails naming node and constraint."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import XSD, Graph, Literal

from kgfilters.cli import main
from kgfilters.errors import GraphError
from kgfilters.ontology.export import export_graph
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.namespace import KGF
from kgfilters.ontology.validate import format_report, load_run_graph, load_target, validate_graph


def test_built_run_conforms(built_run: Path, tmp_path: Path) -> None:
    report = validate_graph(load_target(built_run))
    assert report.conforms, format_report(report)
    assert report.triples > 1500
    for fmt in ("ttl", "jsonld"):
        out = export_graph(built_run, fmt, tmp_path / f"g.{fmt}").path
        assert validate_graph(load_target(out)).conforms, fmt


def broken(root: Path) -> tuple[Graph, str, str]:
    g = load_run_graph(root)
    i = Iris.for_run(root)
    bad_filter = i.filter("conv1", 5)
    g.add((bad_filter, KGF.inLayer, i.layer("conv2")))  # a filter in two layers
    tag = next(g.subjects(KGF.score, None))
    g.set((tag, KGF.score, Literal(1.5, datatype=XSD.double)))  # a score above 1
    return g, str(bad_filter), str(tag)


def test_broken_graph_names_node_and_constraint(built_run: Path) -> None:
    g, bad_filter, tag = broken(built_run)
    report = validate_graph(g)
    assert not report.conforms
    found = {(v.focus, v.path, v.component) for v in report.violations}
    assert (bad_filter, str(KGF.inLayer), "MaxCountConstraintComponent") in found
    assert (tag, str(KGF.score), "MaxInclusiveConstraintComponent") in found
    assert len(report.violations) == 2
    text = "\n".join(format_report(report))
    assert "conforms: no: 2 results" in text
    assert "MaxCountConstraintComponent" in text and "kgf:inLayer" in text
    assert bad_filter in text and "1.5" in text


def test_cli_exit_status(
    built_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(built_run)]) == 0
    assert "conforms: yes" in capsys.readouterr().out
    g, bad_filter, _ = broken(built_run)
    path = tmp_path / "broken.ttl"
    g.serialize(path, format="turtle")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert bad_filter in out and "MaxInclusiveConstraintComponent" in out


@pytest.mark.parametrize(("name", "text", "match"), [
    ("bad.ttl", "<a> <b> .", r"bad.ttl: not valid turtle"),
    ("bad.jsonld", "{\"@graph\": [", r"bad.jsonld: not valid json-ld"),
    ("bad.rdf", "<rdf:RDF><unclosed>", r"bad.rdf: not valid xml"),
    ("bad.nq", "<a> <b> <c> <d> <e> .", r"bad.nq: not valid nquads"),
    ("bad.csv", "a,b", r"unknown RDF file extension '.csv'"),
    ("missing.ttl", None, r"missing.ttl: no such file"),
])
def test_bad_files_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                            text: str | None, match: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(GraphError, match=match) as info:
        load_target(path)
    assert "\n" not in str(info.value)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kgfilters validate: error:" in err
