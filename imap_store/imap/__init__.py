"""Our IMAP4rev1 engine over the encrypted store (ARCHITECTURE "IMAP engine").

Layout, from bytes to behaviour:
- `framer` (CommandReader) -> `cursor` -> `grammar` / `fetch_spec` /
  `search_keys` / `sequence` / `mutf7` -> `parser.parse_command`: sans-I/O,
  bytes in, frozen `command.Command` values out; malformed input is a
  `errors.ParseError` (BAD), never a crash.
- `session` (state, Channel protocol) + `dispatch` (per-state tables, the one
  place a result becomes a tagged reply) + `commands_*` (grouped by state).
- `view`: the selected mailbox as one session sees it (MSN <-> UID, flags,
  held-back EXPUNGE).
- `response`: values that render themselves; `fetch_items`, `envelope`,
  `bodystructure`, `mime_parts`, `address_list`, `message_text`,
  `search_eval`, `listing`: what the commands compute.
- `connection` (one client, STARTTLS, timers) and `listener`
  (`start_imap_listener`, shutdown).
- `backend`: the Protocols the store satisfies (`ImapBackend`).

Ref: RFC 3501, RFC 9051 (target), MSS-RULES R10, R24.
"""
