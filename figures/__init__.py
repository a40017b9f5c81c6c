"""One module per figure; each reads saved results (with their config) and never trains."""
