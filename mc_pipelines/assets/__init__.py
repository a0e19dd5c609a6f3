"""Dagster assets, one module per asset family, following the graph:

app tables (external) → mailchimp_member_status → source_contacts → consented_contacts
(+ rejected_contacts) → segment_members (+ segment_summary, desired_members) → audience_sync; campaign_stats and contacts_export beside.
"""
