"""LLM layer: one batch-first backend protocol, with structured output, concurrency,
retries, a replay cache and token/cost accounting shared by every backend."""
