"""The demo: a deterministic dataset and the end-to-end run behind `make demo`."""
