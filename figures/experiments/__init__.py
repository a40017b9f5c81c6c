"""Experiment figures: deep contrastive runs beside the linear theory (issue 2, section 4), each
beside its baselines (issue 10, section 1).

* ``exp_oracle_dropout`` (Tamkin et al. 2023; the empirical twin of ``theory_vs_p``): oracle
  feature-dropout views on an overlay suite for a range of p; probe accuracy of the overlay (the
  easy / strong feature) and the background (the weak one) against p, beside the linear model's
  optimum.
* ``exp_views_multitask`` (Tamkin et al. 2023): expert vs viewmaker vs oracle (p = 0.5) views on
  the overlay suites; probe accuracy of both tasks and the views' feature-dropout rate.
* ``exp_randbits`` (Chen et al. 2021): digit probe accuracy against the number of random bits k
  per temperature, beside linear InfoNCE with shared bits (``linear_theory.infonce``).
* ``exp_foster`` (Foster et al. 2021): Spirograph with and without the gradient penalty; probe
  R^2 against the number of averaged copies M and the conditional variance.

Baselines (``figures.baselines``): every trained run has an untrained twin (the same
architecture at the same seeded initialisation, probed with the same probe and layer) and a
linear probe on the raw pixels of its suite. Every experiment panel draws their levels
(untrained dashed, pixels dotted), every trained number is also shown as its gain over the
untrained encoder with a 95% t-interval over seeds (``figures.stats``), and a run set none of
whose tasks beats the untrained encoder (``figures.stats.gate``) is not a result: the panel says
so in words instead of comparing its conditions, and its claims (``figures.claims``; each
figure's ``claims_*``) get the verdict "not a result".

``compute_*`` run the sweep (``figures.sweep``: train, resume, evaluate through
``empirical.evaluate``; runs in ``results/runs/<figure>/``) and return JSON-ready results with
per-seed values; ``plot_*`` only draw them. Run lengths are overrides in each figure's config
(saved beside the figure): CPU presets, ``data.train_size=0`` (every training example, read in
a seeded random order) and ``optim.max_steps`` to bound the run.
"""
