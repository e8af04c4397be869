"""Streamed, lossless JSON-LD: quads written straight to a text stream, one node object per subject.

The document is ``{"@context": ..., "@graph": [...]}``: default-graph nodes at the top level and
one ``{"@id": <graph>, "@graph": [...]}`` object per named graph, compacted with the project's
context (``context.jsonld``): properties by their term (``"score"``), classes by theirs
(``"@type": "Tag"``), IRIs under a vocabulary or the run's base as compact IRIs (``run:layer/x``).

Lossless: no literal becomes a JSON number or boolean. A literal whose datatype is the one its
term coerces to is written as the bare lexical form (``"score": "0.5"``, which expands back to
``"0.5"^^xsd:double``); any other literal is a value object with its datatype or language
(``{"@value": "1", "@type": "xsd:double"}``), so ``"1"^^xsd:double`` stays a double and every
double and dateTime keeps its written form.

Streaming: nothing is held but the current subject's properties. Quads are expected grouped by
graph and subject (as Oxigraph returns them); a subject or graph seen again later is written as a
further node or graph object with the same ``@id``, which JSON-LD merges on reading, so any order
is still correct.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

import pyoxigraph as ox

__all__ = ["write_jsonld"]

_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

#: JSON string of a Python str (C-accelerated, UTF-8 kept as is).
_js = json.encoder.encode_basestring  # type: ignore[attr-defined]


class _Compactor:
    """IRI compaction and per-predicate keys from a JSON-LD context (with caches: a run's graph
    repeats a few thousand IRIs millions of times)."""

    def __init__(self, context: dict[str, Any]) -> None:
        prefixes = {k: v for k, v in context.items() if isinstance(v, str) and v.endswith(("#", "/"))}
        self.prefixes = sorted(prefixes.items(), key=lambda kv: -len(kv[1]))  # longest first
        self.iris: dict[str, str] = {}
        self.types: dict[str, str] = {}
        # predicate IRI -> (key, coerced datatype IRI | "@id" | None, language | None)
        self.terms: dict[str, tuple[str, str | None, str | None]] = {}
        for term, spec in context.items():
            if isinstance(spec, dict) and "@id" in spec:
                iri = self.expand(spec["@id"])
                coerce = spec.get("@type")
                if coerce is not None and coerce != "@id":
                    coerce = self.expand(coerce)
                self.terms.setdefault(iri, (term, coerce, spec.get("@language")))
        self.classes = {self.expand(v): k for k, v in context.items()
                        if isinstance(v, str) and not v.endswith(("#", "/")) and ":" in v}
        self.keys: dict[str, tuple[str, str | None, str | None]] = {}

    def expand(self, curie: str) -> str:
        prefix, _, local = curie.partition(":")
        for name, ns in self.prefixes:
            if name == prefix:
                return ns + local
        return curie

    def iri(self, value: str) -> str:
        """``value`` as a compact IRI (``kgf:Tag``, ``run:layer/x``) when a prefix covers it and the
        result cannot be misread as an absolute IRI; else the full IRI. JSON-encoded."""
        out = self.iris.get(value)
        if out is None:
            short = value
            for name, ns in self.prefixes:
                if value.startswith(ns) and len(value) > len(ns) and not value[len(ns):].startswith("//"):
                    short = f"{name}:{value[len(ns):]}"
                    break
            out = self.iris[value] = _js(short)
        return out

    def node(self, term: ox.NamedNode | ox.BlankNode) -> str:
        if isinstance(term, ox.BlankNode):
            return _js(f"_:{term.value}")
        return self.iri(term.value)

    def key(self, predicate: str) -> tuple[str, str | None, str | None]:
        """(JSON-encoded key, coerced datatype or ``@id`` or None, coerced language or None)."""
        got = self.keys.get(predicate)
        if got is None:
            term = self.terms.get(predicate)
            if term is not None:
                got = (_js(term[0]), term[1], term[2])
            else:
                got = (self.iri(predicate), None, None)
            self.keys[predicate] = got
        return got

    def type_name(self, value: str) -> str:
        out = self.types.get(value)
        if out is None:
            term = self.classes.get(value)
            out = self.types[value] = _js(term) if term is not None else self.iri(value)
        return out


def _value(c: _Compactor, obj: Any, coerce: str | None, language: str | None) -> str:
    """JSON text of one object under a key with coercion ``coerce`` / ``language``."""
    if isinstance(obj, ox.NamedNode):
        return c.iri(obj.value) if coerce == "@id" else '{"@id":' + c.iri(obj.value) + "}"
    if isinstance(obj, ox.BlankNode):
        ref = _js(f"_:{obj.value}")
        return ref if coerce == "@id" else '{"@id":' + ref + "}"
    if isinstance(obj, ox.Literal):
        lang = obj.language
        if lang:
            if coerce is None and language == lang:
                return _js(obj.value)
            return '{"@value":' + _js(obj.value) + ',"@language":' + _js(lang) + "}"
        dt = obj.datatype.value
        if dt == coerce or (dt == _XSD_STRING and coerce is None and language is None):
            return _js(obj.value)
        if dt == _XSD_STRING:
            return '{"@value":' + _js(obj.value) + "}"
        return '{"@value":' + _js(obj.value) + ',"@type":' + c.iri(dt) + "}"
    raise TypeError(f"cannot write RDF term {obj!r} as JSON-LD")  # RDF-star triples: not used


def write_jsonld(quads: Iterable[ox.Quad], out: IO[str], context: dict[str, Any], *,
                 base: str | None = None) -> int:
    """Write ``quads`` to ``out`` as compacted JSON-LD with ``context`` (plus ``run`` -> ``base``);
    return the number of quads. Memory: one subject's properties at a time."""
    ctx = dict(context)
    if base is not None:
        ctx["run"] = base
    c = _Compactor(ctx)
    write = out.write
    write('{"@context": ' + json.dumps(ctx, indent=1) + ',\n "@graph": [')
    n = 0
    first_top = True        # no top-level item written yet
    graph: object = None    # graph of the open graph object (None: none open)
    first_in_graph = True
    subject: object = None
    props: dict[str, list[str]] = {}
    types: list[str] = []
    sid = ""

    def flush() -> None:
        nonlocal first_top, first_in_graph
        if subject is None:
            return
        parts = ['{"@id":' + sid]
        if types:
            parts.append('"@type":[' + ",".join(types) + "]")
        parts.extend(f"{k}:[{','.join(v)}]" for k, v in props.items())
        text = ",".join(parts) + "}"
        if graph is not None and not isinstance(graph, ox.DefaultGraph):
            write(("\n  " if first_in_graph else ",\n  ") + text)
            first_in_graph = False
        else:
            write(("\n" if first_top else ",\n") + text)
            first_top = False

    for q in quads:
        n += 1
        g, s = q.graph_name, q.subject
        if g != graph:
            flush()
            subject = None
            if graph is not None and not isinstance(graph, ox.DefaultGraph):
                write("]}")
            graph = g
            if not isinstance(g, ox.DefaultGraph):
                write(("\n" if first_top else ",\n") + '{"@id":' + c.node(g) + ',"@graph":[')
                first_top, first_in_graph = False, True
        if s != subject:
            flush()
            subject, sid, props, types = s, c.node(s), {}, []
        p, o = q.predicate.value, q.object
        if p == _RDF_TYPE and isinstance(o, ox.NamedNode):
            types.append(c.type_name(o.value))
            continue
        key, coerce, language = c.key(p)
        vals = props.get(key)
        if vals is None:
            vals = props[key] = []
        vals.append(_value(c, o, coerce, language))
    flush()
    if graph is not None and not isinstance(graph, ox.DefaultGraph):
        write("]}")
    write("\n]}\n")
    return n
