"""End-to-end tests of the Dagster UI: `dagster dev`, its GraphQL API and headless Chromium."""
