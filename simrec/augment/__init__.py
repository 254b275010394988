"""Augmented data sets: synthetic interactions for chosen users and their measured utility.

* :mod:`simrec.augment.generate`: run the agents, keep the chosen users' watches, export.
* :mod:`simrec.augment.utility`: real-only vs real + synthetic vs real + popularity
  controls, Recall@10 / NDCG@10 lifts (and a most-popular reference).
* :mod:`simrec.augment.study`: several seeds end to end (``simrec augment``).
* :mod:`simrec.augment.writers`: ``lift.csv``, ``lift.md``, ``report.html``, ``manifest.json``.

Default design of ``simrec augment`` and ``benchmarks/augment_ml100k.py``: the
agents are simulated for **1 step under a most-popular recommender**
(``--loop-rec most_popular --steps 1``) and every watch of the cold users is kept.
Of the designs measured on ml-100k (users cut to at most 5 training
interactions; README, ``simrec augment``) it gave the largest Recall@10 lift for
the scenario's MF and the largest margin over the popularity controls; MF in
the loop for 10 steps gave a negative lift (feedback loop), random pages,
item-kNN pages, more steps, ``min_rating`` and per-user caps all did worse.
Two popularity controls (same rows per user, no simulator) tell how much of a
lift is mere popularity: items sampled in proportion to training popularity,
and each user's most popular unseen items. The lift holds for an MF that is
weaker than a most-popular ranking (all users cut) or only slightly stronger
(30% cut); a strongly regularised MF that beats most-popular on real data alone
gets no lift from any design measured.
"""
