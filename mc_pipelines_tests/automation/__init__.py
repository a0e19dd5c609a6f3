"""Tests of sensors, schedules, the erasure job, the webhook receiver and scaling out."""
