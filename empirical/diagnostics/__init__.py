"""Evaluation diagnostics of issue 5: invariance (Foster et al.), the feature-dropout rate of views
(Tamkin et al.), local features (Chen et al.) and view galleries.

Modules: ``invariance``, ``dropout_rate``, ``local_features``, ``gallery``; command line:
``python -m empirical.diagnostics RUN_DIR --what invariance|dropout-rate|local|gallery``.
"""
