"""Persistence: SQLAlchemy access to the application database, migrations, secrets, audit log.

Every query that touches org data takes the org id and filters on it: one org's run can never
read or write another org's rows.
"""
