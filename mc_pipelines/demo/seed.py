"""A deterministic demo dataset with the hard cases real contact data has.

Three orgs of different sizes, segments with filters (one pointing to a second audience is added
by the demo once that audience exists), and in every org: invalid emails, the same address in two
letter cases, contacts without consent, withdrawn consent (with its consent event), a
soft-deleted contact, an address the project accepts but Mailchimp rejects as fake, unicode
names and very long names. Names keep their accents; the addresses made from them are
transliterated (Zoë Petrov → zoe.petrov…, Émilie Rossi → emilie.rossi…).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.clock import new_id
from mc_pipelines.store.tables import consent_events, contact_segments, contacts, orgs


@dataclass(frozen=True)
class DemoOrg:
    """One demo organisation."""

    id: str
    name: str
    size: int
    id_base: int


DEMO_ORGS = (
    DemoOrg("acme", "Acme Retail", 60, 1_000_000),
    DemoOrg("globex", "Globex Manufacturing", 600, 2_000_000),
    DemoOrg("initech", "Initech Services", 6_000, 3_000_000),
)
EPOCH = datetime(2026, 1, 5, 9, 0, 0)
FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Émilie", "Fatima", "Grace", "Hiro", "Ingrid", "José",
         "Kwame", "Léa", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Søren", "Tomás",
         "Uma", "Václav", "Wen", "Ximena", "Yusuf", "Zoë", "李", "Αλέξανδρος", "Мария", "محمد"]
LAST = ["Andersen", "Brown", "Çelik", "Dubois", "Evans", "Fernández", "García", "Horvath",
        "Ito", "Jensen", "Kowalski", "López", "Müller", "Nguyen", "O'Brien", "Petrov", "Quinn",
        "Rossi", "Schmidt", "Tanaka", "Ünal", "Vega", "Wójcik", "Xu", "Yilmaz", "Zimmermann"]
DEPARTMENTS = ["Sales", "Engineering", "Support", "Finance", "Operations"]
LOCATIONS = ["London", "Berlin", "Lisbon", "Toronto", "Austin"]
EMPLOYMENT_TYPES = ["full_time", "part_time", "contractor"]
EMPLOYMENT_STATUSES = ["active", "on_leave", "terminated"]
APP_TAGS = ["vip", "newsletter", "beta", "events", "wholesale"]
INVALID_EMAILS = ["not-an-email", "missing-at.example.org", "two@@ats.io", "spaces in@mail.io",
                  "trailing.dot@mail.io.", "ünïcode@mail.io", "double..dot@mail.io", ""]
#: Well-formed, so it passes the project's validation, but Mailchimp refuses it ("looks fake or
#: invalid"): the run parks it with the contact id.
REJECTED_BY_MAILCHIMP = "test@example.com"
#: Latin letters Unicode does not decompose into a base letter and a combining mark.
_UNDECOMPOSED = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D",
                               "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "\u0131": "i"})
_NOT_IN_ADDRESS = re.compile(r"[^a-z0-9-]")


def transliterate(name: str) -> str:
    """`name` in ASCII letters: accents removed by Unicode decomposition (NFKD, then the
    combining marks dropped: Zoë → Zoe, Émilie → Emilie), the few Latin letters without a
    decomposition mapped (ø → o, ł → l, ß → ss). Other scripts have no ASCII form here and
    are left out (李 → "")."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_UNDECOMPOSED))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return kept.encode("ascii", "ignore").decode()


def demo_address(first: str, last: str, i: int, org_id: str) -> str:
    """The demo contact's address: `first.last.i@<org>-mail.io`, transliterated, lower case,
    apostrophes and other punctuation left out; a name with no ASCII form is skipped."""
    words = [_NOT_IN_ADDRESS.sub("", transliterate(name).lower()) for name in (first, last)]
    return ".".join([*filter(None, words), str(i)]) + f"@{org_id}-mail.io"


def _segments(org: DemoOrg) -> list[dict]:
    base = org.id_base
    return [
        {"id": base + 1, "name": "VIP customers", "segment_type": "customer",
         "filters": {"tags": ["vip"]}, "mailchimp_tag": "app:vip-customers",
         "description": "Customers tagged vip in the application"},
        {"id": base + 2, "name": "Newsletter", "segment_type": "mixed",
         "filters": {"tags": ["newsletter"]}, "mailchimp_tag": "app:newsletter",
         "description": "Everyone who asked for the newsletter"},
        {"id": base + 3, "name": "London & Berlin staff", "segment_type": "employee",
         "filters": {"location": ["London", "Berlin"], "employment_status": "active"},
         "mailchimp_tag": "app:eu-staff", "description": "Active employees in London or Berlin"},
        {"id": base + 4, "name": "Sales team", "segment_type": "employee",
         "filters": {"department": "sales"}, "mailchimp_tag": "app:sales-team",
         "description": "Employees in Sales (matching is case-insensitive)"},
    ]


def _contact(org: DemoOrg, i: int, rng: random.Random) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    contact_type = rng.choices(["customer", "employee", "vendor"], weights=[70, 20, 10])[0]
    created = EPOCH + timedelta(minutes=i * 7)
    row = {
        "id": org.id_base + 1000 + i, "org_id": org.id,
        "email": demo_address(first, last, i, org.id),
        "first_name": first, "last_name": last,
        "phone": f"+44 20 7946 {rng.randint(0, 9999):04d}" if rng.random() < 0.6 else None,
        "contact_type": contact_type,
        "department": rng.choice(DEPARTMENTS) if contact_type == "employee" else None,
        "location": rng.choice(LOCATIONS),
        "employment_type": rng.choice(EMPLOYMENT_TYPES) if contact_type == "employee" else None,
        "employment_status": rng.choice(EMPLOYMENT_STATUSES) if contact_type == "employee" else None,
        "marketing_consent": rng.random() < 0.85,
        "tags": sorted(rng.sample(APP_TAGS, rng.randint(0, 2))),
        "created_at": created, "updated_at": created, "deleted_at": None,
    }
    return row


def _hard_cases(org: DemoOrg, rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Overlay the hard cases on the generated rows; returns rows and consent events."""
    events: list[dict] = []
    n = len(rows)
    for k, bad in enumerate(INVALID_EMAILS):  # invalid addresses, with consent
        rows[(k * 7 + 3) % n].update(email=bad, marketing_consent=True)
    # the same address twice, in two letter cases; the later update wins
    a, b = rows[5], rows[6]
    a.update(email=f"Dup.Person@{org.id}-mail.io", marketing_consent=True)
    b.update(email=f"dup.person@{org.id}-mail.io", marketing_consent=True,
             updated_at=b["updated_at"] + timedelta(days=1))
    rows[8].update(first_name="Zoë-Renée", last_name="Ōtsuka-Łukasiewicz 🌍", marketing_consent=True)
    rows[9].update(first_name="Bartholomew" * 30, last_name="Featherstonehaugh" * 20,
                   marketing_consent=True)
    rows[14].update(deleted_at=rows[14]["created_at"] + timedelta(days=3), marketing_consent=True)
    rows[11].update(email=f"  Padded.Address@{org.id}-mail.io  ", marketing_consent=True)
    rows[15].update(email=REJECTED_BY_MAILCHIMP, marketing_consent=True)
    for idx in (12, 13):  # consent given, then withdrawn in the application
        rows[idx]["marketing_consent"] = False
        events.append({"id": new_id(), "org_id": org.id, "contact_id": rows[idx]["id"],
                       "kind": "given", "at": rows[idx]["created_at"], "source": "signup_form",
                       "detail": None})
        events.append({"id": new_id(), "org_id": org.id, "contact_id": rows[idx]["id"],
                       "kind": "withdrawn", "at": rows[idx]["created_at"] + timedelta(days=2),
                       "source": "preference_centre", "detail": "unticked marketing emails"})
    return rows, events


def seed_demo(engine: Engine, *, orgs_to_seed: tuple[DemoOrg, ...] = DEMO_ORGS, seed: int = 7) -> dict[str, int]:
    """(Re)create the demo orgs' application data; returns contacts per org. Deterministic."""
    counts = {}
    with engine.begin() as conn:
        for org in orgs_to_seed:
            for table in (consent_events, contact_segments, contacts):
                conn.execute(table.delete().where(table.c.org_id == org.id))
            if conn.execute(sa.select(orgs.c.id).where(orgs.c.id == org.id)).first() is None:
                conn.execute(orgs.insert().values(id=org.id, name=org.name, created_at=EPOCH))
            rng = random.Random(f"{seed}:{org.id}")
            rows = [_contact(org, i, rng) for i in range(org.size)]
            rows, events = _hard_cases(org, rows)
            for start in range(0, len(rows), 2000):
                conn.execute(contacts.insert(), rows[start:start + 2000])
            if events:
                conn.execute(consent_events.insert(), events)
            conn.execute(contact_segments.insert(), [
                {**s, "org_id": org.id, "status": "pending",
                 "audience_id": None} for s in _segments(org)
            ])
            counts[org.id] = len(rows)
    return counts
