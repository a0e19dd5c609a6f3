"""Schedules (issue 6)."""

SCHEDULES: list = []
