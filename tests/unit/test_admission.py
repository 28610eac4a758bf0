"""The connection counts of `imap_store.store.admission`, as tables: which cap refuses
a new connection, how a login moves it to its BAL, what a close releases, and under
which key an address is counted."""

from __future__ import annotations

import pytest

from imap_store.store.admission import (
    Admission,
    AdmissionLimits,
    Refusal,
    Ticket,
    address_key,
)

LIMITS = AdmissionLimits(max_connections=5, max_preauth=3, max_preauth_per_address=2,
                         max_per_bal=1, login_timeout=60.0)


def admitted(adm: Admission, address: str) -> Ticket:
    ticket = adm.admit(address, 0.0)
    assert isinstance(ticket, Ticket), ticket
    return ticket


@pytest.mark.parametrize(("address", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("", ""),
])
def test_address_keys(address: str, key: str) -> None:
    assert address_key(address) == key


def test_each_cap_refuses_in_turn() -> None:
    adm = Admission(LIMITS)
    first, second = admitted(adm, "192.0.2.1"), admitted(adm, "192.0.2.1")
    assert adm.admit("192.0.2.1", 0.0) is Refusal.ADDRESS
    admitted(adm, "192.0.2.2")
    assert adm.admit("192.0.2.3", 0.0) is Refusal.PREAUTH  # three before login
    assert first.log_in(7) is None and second.log_in(8) is None  # they leave the pre-login counts
    assert first.login_deadline == 60.0
    admitted(adm, "192.0.2.3").log_in(9)
    admitted(adm, "192.0.2.4")
    assert (adm.total, adm.preauth) == (5, 2)
    assert adm.admit("192.0.2.5", 0.0) is Refusal.TOTAL
    assert dict(adm.by_bal) == {7: 1, 8: 1, 9: 1}
    assert dict(adm.by_address) == {"192.0.2.2": 1, "192.0.2.4": 1}


def test_bal_cap_and_release() -> None:
    adm = Admission(LIMITS)
    one, two = admitted(adm, "192.0.2.1"), admitted(adm, "192.0.2.2")
    assert one.log_in(7) is None
    assert two.log_in(7) is Refusal.BAL
    assert (adm.total, adm.preauth, dict(adm.by_address)) == (2, 1, {"192.0.2.2": 1})
    two.release()
    two.release()  # a second release changes nothing
    one.release()
    assert (adm.total, adm.preauth, dict(adm.by_address), dict(adm.by_bal)) == (0, 0, {}, {})


def test_limits_are_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        AdmissionLimits(max_connections=1, max_preauth=0, max_preauth_per_address=1,
                        max_per_bal=1)
