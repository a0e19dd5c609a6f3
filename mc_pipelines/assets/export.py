"""`contacts_export` (issue 7)."""
