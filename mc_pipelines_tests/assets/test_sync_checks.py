"""The checks on a sync's outcome, on real resources: each result belongs to the materialization
of its own run and says what it found; a partial sync (rows Mailchimp refused) is never green;
and no contact's full address reaches the event log unless the team allows it."""

from __future__ import annotations

from dagster import AssetCheckSeverity, instance_for_test
from dagster._serdes import serialize_value

from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
    update_contact,
)
from mc_pipelines_tests.support.dagster_runs import materialize_sync, metadata_of, observation_of

EMAILS = ["real.person@west.example.org", "someone@example.com",  # Mailchimp rejects the second as fake
          "bad address@west.example.org", "Second.Real@west.example.org"]


def _seed(engine, emulator, org_id: str) -> dict:
    add_org(engine, org_id)
    add_contacts(engine, [contact_row(org_id, i + 1, e, first_name="Zoë", last_name="Petrova")
                          for i, e in enumerate(EMAILS)])
    return connect_to_emulator(engine, emulator, org_id)


def test_partial_sync_warns_and_every_check_targets_its_own_runs_materialization(pg_app_engine, emulator):
    _seed(pg_app_engine, emulator, "west")
    with instance_for_test() as instance:
        for run in range(2):  # the second run proves results do not attach to the first's materialization
            if run:  # a change to plan (an unchanged org's sync is not planned again: test_settled)
                update_contact(pg_app_engine, "west", 1, first_name="Zoya")
            result = materialize_sync(instance, "west", pg_app_engine, emulator)
            evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
            assert set(evaluations) >= {"cohort_is_valid", "invalid_email_rate", "mass_unsubscribe_guard",
                                        "failed_row_rate", "rows_need_a_person"}
            for evaluation in evaluations.values():
                assert evaluation.target_materialization_data is not None
                assert evaluation.target_materialization_data.run_id == result.run_id
                assert evaluation.description
        meta = metadata_of(result, "audience_sync")
        assert list(meta)[:2] == ["status", "problems"] and meta["status"] == "partial"
        assert "parked" in meta["problems"] and "contacts 2" in meta["problems"]
        assert "`parked`" in meta["counts_explained"]
        # the first run refused contact 2 (fake address); the re-run parks it without a write
        need = evaluations["rows_need_a_person"]
        assert not need.passed and need.severity == AssetCheckSeverity.WARN
        assert need.metadata["contact_ids"].value == [2]
        assert evaluations["mass_unsubscribe_guard"].passed
        # unchanged since: not planned again, and contact 2 is still reported (the checks' last
        # evaluations stand)
        again = materialize_sync(instance, "west", pg_app_engine, emulator)
        assert not again.get_asset_check_evaluations()
        observed = observation_of(again, "audience_sync")
        assert observed["status"] == "partial" and "contacts 2" in observed["problems"]


def test_failed_row_rate_warns_above_its_threshold(pg_app_engine, emulator):
    _seed(pg_app_engine, emulator, "rate")
    with instance_for_test() as instance:
        result = materialize_sync(instance, "rate", pg_app_engine, emulator,
                                  sync_config={"max_failed_row_rate": 0.5})
        rate = {e.check_name: e for e in result.get_asset_check_evaluations()}["failed_row_rate"]
        assert rate.passed and rate.metadata["failed_rows"].value == 1  # 1 of 3 written: under 50 %
        assert rate.metadata["rows_attempted"].value == 3
        result = materialize_sync(instance, "rate", pg_app_engine, emulator, sync_config={})
        # nothing left to write: the parked row is not retried, so no failed row this time
        rate = {e.check_name: e for e in result.get_asset_check_evaluations()}["failed_row_rate"]
        assert rate.passed and rate.metadata["rows_attempted"].value == 0


def _event_log_text(instance, run_id: str) -> str:
    return "\n".join(serialize_value(entry) for entry in instance.all_logs(run_id)).lower()


def test_no_full_email_in_the_event_log_by_default(pg_app_engine, emulator):
    _seed(pg_app_engine, emulator, "private")
    with instance_for_test() as instance:
        result = materialize_sync(instance, "private", pg_app_engine, emulator)
        text = _event_log_text(instance, result.run_id)
        for email in EMAILS:
            assert email.lower() not in text, email
        assert "petrova" not in text  # names stay out of previews too
        assert "r***@west.example.org" in text and "s***@example.com" in text  # masked, still useful
        assert metadata_of(result, "consented_contacts")["preview"].records[0].data["contact_id"] == 1


def test_full_emails_when_the_team_allows_them(pg_app_engine, emulator):
    from mc_pipelines.resources import AppDatabase

    _seed(pg_app_engine, emulator, "open")
    with instance_for_test() as instance:
        from dagster import materialize

        from mc_pipelines.automation.run_config import sync_run_config
        from mc_pipelines_tests.support.dagster_runs import SYNC_ASSETS, resources_for

        instance.add_dynamic_partitions("orgs", ["open"])
        resources = {**resources_for(pg_app_engine, emulator),
                     "app_db": AppDatabase(url=pg_app_engine.url.render_as_string(hide_password=False),
                                           full_emails_in_metadata=True)}
        result = materialize(SYNC_ASSETS, partition_key="open", instance=instance, resources=resources,
                             run_config=sync_run_config(), tags={"org": "open"})
        assert "someone@example.com" in metadata_of(result, "audience_sync")["error_samples"]
