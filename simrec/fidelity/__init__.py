"""Fidelity of simulated users against real held-out behaviour (``simrec fidelity``).

* :mod:`simrec.fidelity.protocol`: Agent4Rec's discrimination protocol — lists of
  held-out positives and never-seen negatives (uniform or popularity-matched),
  shown as one page; accuracy, precision, recall and F1 of what the agent picks;
* :mod:`simrec.fidelity.ratings`: rating RMSE/MAE, Jensen–Shannon divergence of
  star distributions, item-popularity correlation, pages viewed before leaving;
* :mod:`simrec.fidelity.scorecard`: :func:`~simrec.fidelity.scorecard.run_fidelity`
  and the scorecard writers (CSV, Markdown, HTML with plots, manifest).
"""
