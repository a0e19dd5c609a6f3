"""GDPR erasure job (issue 6)."""

ERASURE_JOBS: list = []
