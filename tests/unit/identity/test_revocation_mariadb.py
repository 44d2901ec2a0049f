"""Revocation events on MariaDB keep sub-second times: a token issued and revoked within one
second is revoked, and one issued right after the event is not."""

from __future__ import annotations

import time
import uuid

from identity import revocation
from identity.revocation_list import TokenFacts


def facts(user_id: str, issued_at: float) -> TokenFacts:
    return TokenFacts(issued_at=issued_at, audit_id=uuid.uuid4().hex[:22], audit_chain_id=None,
                      user_id=user_id, project_id=None, domain_ids=("default",))


def test_same_second_revocation_on_mariadb(mariadb_db):
    db = mariadb_db("api")
    user = uuid.uuid4().hex
    before = facts(user, time.time())
    time.sleep(0.01)
    db.transaction(lambda s: revocation.record(s, 3600, user_id=user))
    time.sleep(0.01)
    after = facts(user, time.time())
    assert db.transaction(lambda s: revocation.is_revoked(s, before))
    assert not db.transaction(lambda s: revocation.is_revoked(s, after))
    events = db.transaction(lambda s: revocation.events_since(s, None))
    assert events[0]["issued_before"].split(".")[1] != "000000Z" or before.issued_at % 1 == 0
