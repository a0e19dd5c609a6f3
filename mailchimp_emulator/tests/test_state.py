"""Property tests of the emulator's state model (in-process, no HTTP): the fast member
serializer agrees with the document renderer for any data, and the change log answers
``since_last_changed`` like a full scan would."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st_

from mailchimp_emulator.admin import DEFAULT_LIST_SETTINGS
from mailchimp_emulator.emails import subscriber_hash
from mailchimp_emulator.errors import STATUSES
from mailchimp_emulator.handlers.lists import create_list
from mailchimp_emulator.members import add_member, delete_permanent, upsert_member
from mailchimp_emulator.model import AudienceList, EmulatorState
from mailchimp_emulator.rendering import member_json, render_member

texts = st_.text(max_size=40)
merge = st_.fixed_dictionaries(
    {},
    optional={
        "FNAME": texts,
        "LNAME": texts,
        "PHONE": texts,
        "SCORE": st_.one_of(
            st_.integers(-(10**12), 10**12), st_.floats(allow_nan=False, allow_infinity=False)
        ),
    },
)


def _audience() -> tuple[EmulatorState, AudienceList]:
    state = EmulatorState()
    acct = state.create_account("Prop")
    lst = create_list(acct, {**DEFAULT_LIST_SETTINGS, "name": "P"}, state.clock.now())
    lst.add_merge_field({"tag": "SCORE", "name": "Score", "type": "number"})
    return state, lst


@settings(max_examples=100, deadline=None)
@given(
    merge_fields=merge,
    status=st_.sampled_from(STATUSES),
    tags=st_.lists(st_.text(min_size=1, max_size=20).filter(str.strip), max_size=3),
    extras=st_.fixed_dictionaries(
        {},
        optional={
            "language": texts,
            "vip": st_.booleans(),
            "email_type": st_.sampled_from(["html", "text"]),
        },
    ),
)
def test_member_json_equals_render_member(
    merge_fields: dict, status: str, tags: list[str], extras: dict
) -> None:
    state, lst = _audience()
    body = {
        "email_address": "prop.member@acme-corp.com",
        "status": status,
        "merge_fields": merge_fields,
        **extras,
    }
    m = add_member(state, lst, body, skip_merge=True, now=state.clock.now())
    for name in tags:
        lst.add_tag(
            m,
            lst.tag_segment(name.strip(), state.clock.now(), state.next_segment_id),
            state.clock.now(),
        )
    assert json.loads(member_json(lst, m)) == json.loads(json.dumps(render_member(lst, m)))


@settings(max_examples=40, deadline=None)
@given(
    steps=st_.lists(st_.tuples(st_.integers(0, 19), st_.integers(0, 3)), min_size=1, max_size=60),
    since=st_.integers(0, 40),
)
def test_change_log_matches_a_full_scan(steps: list[tuple[int, int]], since: int) -> None:
    state, lst = _audience()
    start = state.clock.now()
    for who, wait in steps:
        state.clock.advance(wait)
        email = f"log{who}@acme-corp.com"
        h = subscriber_hash(email)
        now = state.clock.now()
        if h in lst.members and who % 5 == 0:
            delete_permanent(lst, h)
            continue
        body = {
            "email_address": email,
            "status_if_new": "subscribed",
            "merge_fields": {"FNAME": f"n{now}"},
        }
        if h not in lst.forgotten:
            upsert_member(state, lst, h, body, skip_merge=False, now=now)
    bound = start + since
    expected = sorted(
        (m for m in lst.members.values() if m.changed >= bound), key=lambda m: m.changed
    )
    got = lst.changed_between(bound, None)
    assert sorted(m.h for m in got) == sorted(m.h for m in expected)  # each live member once
    assert [m.changed for m in got] == sorted(m.changed for m in got)
