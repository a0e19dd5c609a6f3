"""The pure core of the sync: plain functions over DataFrames — no Dagster, no I/O, no network.

cohort (consent, email validation, dedupe) → segments (membership, managed tags) → desired
(per-audience desired state, merge fields, payload hashes) → diff (the plan for one audience)
→ batching (the bulk calls); outcomes classifies per-row Mailchimp errors; simulate models a push.
"""
