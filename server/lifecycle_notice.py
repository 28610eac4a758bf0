"""The notice before a BAL's deletion for inactivity, in French and English (R28).

Owns: `deletion_notice` (the message's bytes) and `send_notice` (hand it to
intake, the one way messages enter a mailbox or the outbound queue). Its
headers, sender and way in are every system notice's (`system_notice`).

Invariants:
- from postmaster, with the null reverse-path (no notice about a notice,
  RFC 5321 4.5.5), marked `Auto-Submitted: auto-generated` (RFC 3834):
  `system_notice`;
- it names the BAL, the date of deletion and the two ways to object: any
  login to the BAL (IMAP, SMTP, webmail, on any protocol), or asking the
  operator to run `mss bal keep ADDRESS` (CNIL AU-037: the user is told
  before deletion, through the channel they chose, so they can object);
- it goes to the BAL's notice address (`mss bal set --notice-address`),
  else to the BAL itself; a notice for another operator's domain is queued
  for the relay, sealed with the BAL's own key.

Ref: R28; RFC 3834; RFC 5321 4.5.5.
"""

from __future__ import annotations

from datetime import datetime

from policy.address import domain_of
from smtp_gateway.intake import Intake, LocalRecipient

from .system_notice import deliver_notice, system_notice

FRENCH = """Bonjour,

La boîte aux lettres MSSanté {bal} n'a fait l'objet d'aucune connexion depuis le {since}.
Elle n'est plus publiée dans l'Annuaire Santé et sera supprimée le {when},
avec tous ses messages.

Pour vous y opposer, il suffit de vous connecter à cette boîte (messagerie,
logiciel de santé, quel que soit le protocole) avant cette date, ou de demander
à votre opérateur de la conserver (commande « mss bal keep {bal} »).
Toute connexion vaut opposition et la republie dans l'annuaire.
"""

ENGLISH = """Hello,

Nobody has logged in to the MSSanté mailbox {bal} since {since}.
It is no longer published in the Annuaire Santé and will be deleted on {when},
with all of its messages.

To object, log in to this mailbox (mail client, health software, any protocol)
before that date, or ask your operator to keep it ("mss bal keep {bal}").
Any login counts as an objection and publishes it again.
"""


def deletion_notice(*, bal: str, to: str, hostname: str, since: datetime, when: datetime,
                    now: datetime) -> bytes:
    values = {"bal": bal, "since": since.date().isoformat(), "when": when.date().isoformat()}
    return system_notice(
        hostname=hostname, to=to, now=now,
        subject=(f"Suppression prochaine de la BAL {bal} / "
                 f"Mailbox {bal} to be deleted on {when.date().isoformat()}"),
        text=FRENCH.format(**values) + "\n---\n\n" + ENGLISH.format(**values))


async def send_notice(intake: Intake, *, bal_id: int, bal: str, to: str, since: datetime,
                      when: datetime, now: datetime) -> str:
    """Deliver the notice for `bal` to `to` (local BAL or remote); returns where it went."""
    local: tuple[LocalRecipient, ...] = ()
    remote: tuple[str, ...] = ()
    state = await intake.store.lookup(to)
    if state is not None and state.status == "active":
        local = (LocalRecipient(state.address, state.bal_id),)
    elif domain_of(to) in intake.local_domains:
        to = bal  # the notice address is gone: the BAL itself is told
        local = (LocalRecipient(bal, bal_id),)
    else:
        remote = (to,)
    content = deletion_notice(bal=bal, to=to, hostname=intake.hostname, since=since,
                              when=when, now=now)
    await deliver_notice(intake, content, session=f"inactivity-{bal_id}", now=now,
                         owner_bal_id=bal_id, local=local, remote=remote)
    return to
