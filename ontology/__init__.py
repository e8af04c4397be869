"""kgfilters.ontology: results as RDF (see ARCHITECTURE.md).

Files: ``kgf.ttl`` (the OWL vocabulary), ``shapes.ttl`` (SHACL), ``context.jsonld`` (JSON-LD).
Modules: ``namespace`` (``KGF``), ``iris`` (deterministic IRIs), ``emit`` (results -> triples),
``store`` (the run's Oxigraph store), ``build`` (``build_graph``, ``demo_stage``), ``export``,
``validate``, ``serve`` and ``push``. Nothing is imported here, so ``import kgfilters.ontology``
stays cheap.
"""
