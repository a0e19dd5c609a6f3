"""Effects: push, pull and campaign refresh — Mailchimp and the store, no Dagster."""
