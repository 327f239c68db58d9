"""feeds.yaml as validated models: topics and sources (feeds), digests and alerts (digests)."""
