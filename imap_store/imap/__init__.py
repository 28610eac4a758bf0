"""Our IMAP4rev1 engine over the encrypted store (docs/architecture.md "IMAP engine").

Layout, from bytes to behaviour:
- `parse/`: `framer` (CommandReader) -> `cursor` -> `grammar` /
  `grammar_terms` / `grammar_append` / `fetch_spec` / `search_keys` /
  `sequence` / `mutf7` -> `parser.parse_command`: sans-I/O, bytes in, frozen
  `command.Command` values out; malformed input is a `errors.ParseError`
  (BAD), never a crash.
- `session` (state, Channel protocol) + `commands/`: `dispatch` (per-state
  tables, the one place a result becomes a tagged reply) and the handlers
  grouped by state: `nonauth`, `auth`, `mailbox` (CREATE, DELETE, RENAME,
  SUBSCRIBE, STATUS, APPEND), `selected`, `fetch`, `copy` (COPY, MOVE),
  `idle`, `any`.
- `view`: the selected mailbox as one session sees it (MSN <-> UID, flags,
  per-session \\Recent, held-back EXPUNGE).
- `render/`: `response` (values that render themselves), `fetch_items`,
  `envelope`, `bodystructure` (rendered from the meta the store computed at
  delivery: `message.meta`), `mime_parts`, `binary_section`; beside them
  `binary_append`, `message_loader`, `search_eval` (with `message.text`) and
  `listing`: what the commands compute.
- `connection` (one client, STARTTLS, timers) and `listener`
  (`start_imap_listener`, shutdown).
- `backend`: the Protocols the store satisfies (`ImapBackend`).

Ref: RFC 3501, RFC 9051 (target), RFC 3502, 3516, 4315, 6851, 6154;
R10, R24.
"""
