"""Measured robustness: probes that compare a scenario's agents on clean and attacked worlds (issue 18).

- :mod:`simrec.robustness.text_probe`: how much adversarial item text moves LLM-driven
  agents' watches and stars (:func:`~simrec.robustness.text_probe.text_uplift`).
"""
