"""Deep contrastive experiments: multi-task data, views, encoders, losses, training, evaluation."""
