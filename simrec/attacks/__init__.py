"""Attacks and natural noise, as data and as the functions that make them (issue 18).

- :mod:`simrec.attacks.plan`: the run's :class:`~simrec.world.attacks.AttackPlan` from the
  scenario's ``robustness:`` block (targets, clickbait and attacked items; fake profiles);
- :mod:`simrec.attacks.shilling`: fake profiles of the classic shilling families;
- :mod:`simrec.attacks.defence`: detection (RDMA) and denoising before refits;
- :mod:`simrec.attacks.noise`: clickbait appeal and accidental clicks in the choice model;
- :mod:`simrec.attacks.text`: adversarial item text aimed at LLM-driven agents.
"""
