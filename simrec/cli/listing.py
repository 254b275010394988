"""What ``simrec list`` shows: every registry and fixed choice, with the key that selects it."""

from __future__ import annotations

import typing

#: The data sources a scenario's ``environment.data.source`` takes (MovieLens with its variants).
DATA_SOURCES = ["synthetic", "movielens (100k, 1m, latest-small, latest)", "file"]


def _literal_names(model: type, field: str) -> list[str]:
    """The allowed values of a ``Literal`` config field (what validation accepts)."""
    annotation = model.model_fields[field].annotation
    return [str(a) for a in typing.get_args(annotation)]


def registry_rows() -> list[tuple[str, list[str], str]]:
    """``(kind, names, config key)`` for every plug-in point and fixed choice of a scenario."""
    from simrec.agents.policies.base import POLICIES
    from simrec.bench.executors import EXECUTORS
    from simrec.config.schema import LLMPolicyParams
    from simrec.config.shipped import shipped_scenarios
    from simrec.io.export import EXPORT_FORMATS
    from simrec.llm.base import BACKENDS
    from simrec.memory.base import MEMORY_STORES
    from simrec.memory.embedders import EMBEDDERS
    from simrec.recommenders.base import RECOMMENDERS
    from simrec.social.builders import GRAPH_BUILDERS

    scenarios = [p.name for p in shipped_scenarios().values()]
    return [
        ("recommender", RECOMMENDERS.names(), "recommender.name"),
        ("policy", POLICIES.names(), "policy.name"),
        ("LLM backend", BACKENDS.names(), "llm.backend"),
        ("decision protocol", _literal_names(LLMPolicyParams, "protocol"), "policy.llm.protocol"),
        ("embedder", EMBEDDERS.names(), "agents.memory.embedder"),
        ("memory store", MEMORY_STORES.names(), "agents.memory.store"),
        ("data source", DATA_SOURCES, "environment.data.source"),
        ("graph builder", GRAPH_BUILDERS.names(), "environment.social.builder"),
        ("bench executor", EXECUTORS.names(), "simrec bench --executor"),
        ("export format", list(EXPORT_FORMATS), "run.export / simrec export --format"),
        ("scenario (shipped; run by name)", scenarios, "simrec run NAME"),
    ]
