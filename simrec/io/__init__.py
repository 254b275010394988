"""Run outputs on disk: the event sink, exports (RecBole atomic, CSV, Parquet) and the manifest."""
