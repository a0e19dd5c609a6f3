"""Tests of the demo: its environment, dataset and summary."""
