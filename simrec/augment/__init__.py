"""Augmented data sets: synthetic interactions for chosen users and their measured utility.

* :mod:`simrec.augment.generate`: run the agents, keep the chosen users' watches, export.
* :mod:`simrec.augment.utility`: real-only vs real + synthetic Recall@10 / NDCG@10 lift.
* :mod:`simrec.augment.study`: several seeds end to end (``simrec augment``).
* :mod:`simrec.augment.writers`: ``lift.csv``, ``lift.md``, ``report.html``, ``manifest.json``.
"""
