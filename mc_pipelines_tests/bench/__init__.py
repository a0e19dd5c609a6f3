"""Smoke tests of the benchmark machinery (`mc-pipelines bench`), with tiny sizes."""
