"""Mailchimp API handlers, one module per resource."""
