"""Experiment figures: deep contrastive runs, most beside the linear theory (issue 2, section
4), each beside its baselines (issue 10, section 1). The ten figures, one module each:

* ``exp_oracle_dropout``: oracle feature dropout, both overlay-suite tasks vs p, calibrated theory.
* ``exp_views_multitask``: expert vs viewmaker vs oracle views (reused oracle runs), both tasks.
* ``exp_randbits``: digit accuracy vs shared random bits k and bit dropout, beside linear InfoNCE.
* ``exp_foster``: Spirograph with Foster et al.'s gradient penalty (two variants) over lambda.
* ``exp_local_features``: K-means maps of each encoder stage, their ARI against object masks.
* ``exp_audio``: expert vs viewmaker views on spoken digits in noise, dropout rate, a gallery.
* ``exp_viewmaker_budget``: viewmaker budget eps vs views' feature-dropout rate and accuracy.
* ``exp_dynamics``: the calibrated theory's learning curves beside the measured kNN curves.
* ``exp_losses``: probe accuracy of NT-Xent, align + LSE and align + SWD vs the head's depth.
* ``exp_suppression``: DigitOnImage accuracy vs unique digits N, MultiDigits vs the large size.

Shared pieces (short-run overrides, the sweep with baselines, probe records and kNN curves,
gains, the gate's look and gated claims, markers, legends) are in ``common``.

Baselines (``figures.baselines``): every trained run has an untrained population (the same
architecture at ``UNTRAINED_INITS`` seeded initialisations at seeds disjoint from the trained ones,
probed with the same probe and layer) and a linear probe on the raw pixels of its suite. Every
experiment panel draws their levels (untrained dashed: the population's mean; pixels dotted), every
trained number is also shown as its gain over the untrained encoder, the trained seeds against the
population with a 95% Welch interval (``figures.stats.welch_interval``), and a run set none of whose
tasks beats the untrained encoder (``figures.stats.gate``) is not a result: the panel says so in
words instead of comparing its conditions, and its claims (``figures.claims``; each figure's
``claims_*``) get the verdict "not a result".

``compute_*`` run the sweep (``figures.sweep``: train, resume, evaluate through
``empirical.evaluate``; runs in ``results/runs/<figure>/``) and return JSON-ready results with
per-seed values; ``plot_*`` only draw them. Run lengths are overrides in each figure's config
(saved beside the figure): CPU presets, ``data.train_size=0`` (every training example, read in
a seeded random order) and ``optim.max_steps`` to bound the run.
"""
