"""Our IMAP4rev1 engine over the encrypted store (docs/architecture.md "IMAP engine").

Layout, from bytes to behaviour:
- `framer` (CommandReader) -> `cursor` -> `grammar` / `grammar_terms` /
  `grammar_append` / `fetch_spec` / `search_keys` / `sequence` / `mutf7` ->
  `parser.parse_command`: sans-I/O, bytes in, frozen `command.Command` values
  out; malformed input is a `errors.ParseError` (BAD), never a crash.
- `session` (state, Channel protocol) + `dispatch` (per-state tables, the one
  place a result becomes a tagged reply) + `commands_*` (grouped by state:
  `commands_nonauth`, `commands_auth`, `commands_mailbox` (CREATE, DELETE,
  RENAME, SUBSCRIBE, STATUS, APPEND), `commands_selected`, `commands_fetch`,
  `commands_copy` (COPY, MOVE), `commands_idle`, `commands_any`).
- `view`: the selected mailbox as one session sees it (MSN <-> UID, flags,
  per-session \\Recent, held-back EXPUNGE).
- `response`: values that render themselves; `fetch_items`, `envelope`,
  `bodystructure` (rendered from the meta the store computed at delivery:
  `message.meta`), `mime_parts`, `binary_section`,
  `binary_append`, `message_loader`, `message_text`, `search_eval`,
  `listing`: what the commands compute.
- `connection` (one client, STARTTLS, timers) and `listener`
  (`start_imap_listener`, shutdown).
- `backend`: the Protocols the store satisfies (`ImapBackend`).

Ref: RFC 3501, RFC 9051 (target), RFC 3502, 3516, 4315, 6851, 6154;
R10, R24.
"""
