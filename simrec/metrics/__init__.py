"""Evaluation metrics of simulated runs: accuracy, beyond-accuracy and (later) fidelity.

* :mod:`simrec.metrics.beyond`: vectorised beyond-accuracy measures of what was shown
  (intra-list diversity, novelty, coverage, exposure Gini, popularity bias and lift);
* :mod:`simrec.metrics.accuracy`: interactive accuracy of impressions against each
  user's real held-out items (Agent4Rec style precision and recall);
* :mod:`simrec.metrics.run`: one row of metrics for a finished run folder
  (:func:`~simrec.metrics.run.run_metrics`), per-step curves and exposure counts;
* :mod:`simrec.metrics.ranking`: Recall@k and NDCG@k of ranked lists (offline: a top-k
  against held-out items);
* :mod:`simrec.metrics.pooled`: the same of a run's pages against what the simulated users
  watched, pooled over several runs (``simrec fidelity --ab``).
"""
