"""Sensors (issue 6)."""

SENSORS: list = []
