"""End-to-end tests of the operator commands."""
