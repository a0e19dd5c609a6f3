"""Helpers shared by the test suite (no fixtures: those live in the conftests).

- `app_data`: orgs, contacts, segments and connections in the application database under test
- `db`: table snapshots, the `app_db` resource and stub connections
- `dagster_runs`: materializing the real assets on real resources, reading their metadata
- `factories`: source frames for the pure sync core
- `mailchimp_client`: fresh emulator accounts and clients with test-sized retry timings
- `cli`: `mc-pipelines` run in process, and the assertions of a refused command
- `reliability`: hostile data, fault runs and crash workers of the reliability suite
- `secret_scan`: the session-wide API-key leak scan (a pytest plugin, see the root conftest)
"""
