"""The spreadsheet import's pure parts: the sheet's validation (pandera) and the per-row plan
through the lifecycle rules, one case per rule."""

from __future__ import annotations

import pandas as pd
import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.sync.diff import CREATE_COLUMNS
from mc_pipelines.sync.sheet_format import escape_cell, tag_of_column, unescape_cell
from mc_pipelines.sync.sheet_plan import ImportContext, plan_import
from mc_pipelines.sync.sheet_rows import SheetError, validate_sheet

A = "aud1"


def _h(email: str) -> str:
    return subscriber_hash(email)


@pytest.mark.parametrize("value", ["=1+2", "+44 20", "-x", "@SUM(A1)", "\tcmd", "plain", ""])
def test_cells_are_escaped_against_formulas_and_read_back_unchanged(value):
    escaped = escape_cell(value)
    assert not str(escaped).startswith(("=", "+", "-", "@", "\t"))
    assert unescape_cell(escaped) == value


def test_tag_columns_are_recognised_by_their_prefix():
    assert tag_of_column("tag:VIP") == "VIP" and tag_of_column(" TAG: Spring Fair ") == "Spring Fair"
    assert tag_of_column("managed_tags") is None and tag_of_column("tag:") is None


def test_validation_ignores_bad_rows_and_cells_and_refuses_bad_files():
    raw = pd.DataFrame({"contact_id": ["1", "x", "3", ""], "email": ["a@b.io", "c@d.io", "bad", "e@f.io"],
                        "tag:VIP": ["Y", "N", "Y", "maybe"], "tag:News": ["", "n", "y", "Y"]}, dtype=object)
    sheet = validate_sheet(raw)
    assert sheet.rows["row"].tolist() == [2, 5]
    assert sheet.rows["wants"].tolist() == [[("VIP", True)], [("News", True)]]
    assert dict(zip(sheet.malformed["row"], sheet.malformed["reason"], strict=True)) == {
        3: "contact_id: not a contact id (digits)", 4: "email: not a valid email address"}
    assert sheet.invalid_cells == 1 and sheet.invalid_samples == [(5, "tag:VIP", "maybe")]
    with pytest.raises(SheetError, match="no `email` column"):
        validate_sheet(raw.drop(columns=["email"]))
    with pytest.raises(SheetError, match="no tag column"):
        validate_sheet(raw[["email"]])


def _ctx(**over) -> ImportContext:
    emails = ["ann@x.io", "bob@x.io", "cat@x.io", "dan@x.io", "eve@x.io", "fay@x.io"]
    contacts = pd.DataFrame({"contact_id": range(1, 7), "subscriber_hash": [_h(e) for e in emails],
                             "marketing_consent": [True, True, True, False, True, True]})
    desired = pd.DataFrame({"audience_id": A, "subscriber_hash": [_h(e) for e in emails if e != "dan@x.io"],
                            "contact_id": [1, 2, 3, 5, 6], "email": [e for e in emails if e != "dan@x.io"],
                            "merge_fields": [{}] * 5, "payload_hash": ["p"] * 5})
    state = pd.DataFrame({
        "audience_id": A, "subscriber_hash": [_h("ann@x.io"), _h("eve@x.io"), _h("fay@x.io")],
        "ownership": ["created", "linked", "created"], "status": ["subscribed", "subscribed", "archived"],
        "intent": [None, None, None], "payload_hash": ["p", "p", "p"], "parked": [None] * 3})
    members = {(A, _h("ann@x.io")): ("subscribed", ["Newsletter", "VIP"]),
               (A, _h("bob@x.io")): ("unsubscribed", ["Other"]),  # Mailchimp had it first
               (A, _h("eve@x.io")): ("subscribed", [])}
    values = dict(default_audience=A, audiences=(A,), contacts=contacts, desired=desired,
                  state=state, members=members,
                  defined_tags={A: {"Newsletter": 1, "VIP": 2, "Spring": 3}},
                  managed_tags={A: {"VIP"}})
    values.update(over)
    return ImportContext(**values)


def _rows(*rows: tuple[str, list, str, int | None]) -> pd.DataFrame:
    return pd.DataFrame([(i + 2, e, _h(e), cid, aud, wants) for i, (e, wants, aud, cid) in enumerate(rows)],
                        columns=["row", "email", "subscriber_hash", "contact_id", "audience_id", "wants"])


def test_plan_follows_the_lifecycle_rules():
    rows = _rows(
        ("ann@x.io", [("newsletter", False), ("Spring", True), ("VIP", False), ("Ghost", True)], "", None),
        ("bob@x.io", [("Spring", True)], "", None),     # in Mailchimp before: created → linked
        ("cat@x.io", [("Spring", True), ("Newsletter", False)], "", None),  # not a member: created
        ("dan@x.io", [("Spring", True)], "", None),     # no consent
        ("eve@x.io", [("Spring", True)], "", None),     # linked
        ("fay@x.io", [("Spring", True)], "", None),     # archived
        ("zed@x.io", [("Spring", True)], "", None),     # no contact has the address
        ("ann@x.io", [("Spring", True)], "other", None),  # not an audience of the org
        ("cat@x.io", [("Spring", True)], A, 2),         # contact 2 is not cat's
    )
    plan = plan_import(rows, _ctx())
    out = plan.outcomes.set_index("row")
    assert out["outcome"].tolist() == ["tags", "create", "create", "skipped", "tags", "skipped",
                                       "ignored", "ignored", "ignored"]
    assert out["reason"].tolist()[3:] == ["no_consent", "", "archived", "unknown_address",
                                          "unknown_audience", "contact_mismatch"]
    assert (out.loc[2, "tags_added"], out.loc[2, "tags_removed"]) == (["Spring"], ["Newsletter"])
    assert out.loc[4, "tags_removed"] == []  # cat has no Newsletter to remove
    assert sorted(plan.creates[A]["email"]) == ["bob@x.io", "cat@x.io"]
    assert list(plan.creates[A].columns) == list(CREATE_COLUMNS)
    assert set(plan.ignored_columns[A]) == {"VIP", "Ghost"}  # managed; not defined
    assert plan.counts["tag_adds"] == 4 and plan.counts["tag_removes"] == 1


def test_plan_leaves_linked_members_alone_under_existing_members_leave():
    plan = plan_import(_rows(("eve@x.io", [("Spring", True)], "", None),
                             ("bob@x.io", [("Spring", True)], "", None)),
                       _ctx(existing_members="leave"))
    assert plan.outcomes["reason"].tolist() == ["linked_left_alone", "linked_left_alone"]
    assert plan.moves.empty


def test_an_opt_out_read_before_the_state_took_it_in_is_skipped():
    members = dict(_ctx().members)
    members[(A, _h("ann@x.io"))] = ("unsubscribed", [])
    plan = plan_import(_rows(("ann@x.io", [("Spring", True)], "", None)), _ctx(members=members))
    assert plan.outcomes["reason"].tolist() == ["opted_out_in_mailchimp"] and plan.moves.empty


def test_exported_rows_instruct_only_with_the_cells_the_operator_changed():
    raw = pd.DataFrame({"email": ["a@b.io", "c@d.io"], "sync_status": ["subscribed", ""],
                        "mailchimp_tags": ["VIP; News", ""],
                        "tag:VIP": ["Y", "Y"], "tag:News": ["N", "N"], "tag:Fair": ["N", "Y"]},
                       dtype=object)
    sheet = validate_sheet(raw)
    # exported row: VIP as exported (no instruction), News changed to N; a hand-typed row: all
    assert sheet.rows["wants"].tolist() == [
        [("News", False)], [("VIP", True), ("News", False), ("Fair", True)]]
