"""Agent memory: embedders and memory stores (ChromaDB), retrieval and reflection."""
