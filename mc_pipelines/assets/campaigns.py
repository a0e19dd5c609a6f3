"""`campaign_stats` (issue 7)."""
