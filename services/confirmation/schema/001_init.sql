-- The confirmation service's own tables, in schema `confirmation` (search_path
-- is the schema while this runs). It also reads and updates
-- registration.outbox (the contract: services/registration/OUTBOX.md).

-- Delivery state of outbox rows that needed more than one attempt or were
-- given up. A row sent at the first attempt has none (processed_at on the
-- outbox row says it was sent). state: 'retrying' (next_attempt_at set),
-- 'sent', 'parked' (gave up after the configured attempts; the outbox row is
-- processed, the message is not delivered; organizers see it).
CREATE TABLE deliveries (
  outbox_id       bigint PRIMARY KEY,
  registration_id text NOT NULL,
  event_id        text NOT NULL,
  kind            text NOT NULL,
  state           text NOT NULL CHECK (state IN ('retrying', 'sent', 'parked')),
  attempts        integer NOT NULL CHECK (attempts >= 1),
  next_attempt_at timestamptz,
  last_error      text NOT NULL DEFAULT '',
  message_id      text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_retry ON deliveries (next_attempt_at)
  WHERE state = 'retrying';
CREATE INDEX deliveries_parked ON deliveries (event_id) WHERE state = 'parked';

-- Confirmation tokens: one per `confirmation`/`promotion` outbox row, made
-- before its first send attempt and committed before the message leaves, so
-- that every attempt (and a resend after a crash mid-send) carries the same
-- token. Only SHA-256(token) identifies it; the token itself is kept sealed
-- (AES-256-GCM, ADMIT_CONFIRMATION_TOKEN_KEY, associated data = outbox_id)
-- so a retry can put the same link in the message, and is erased once the
-- message is sent.
--
-- A token works iff: it is the newest of its registration (highest
-- outbox_id) and outbox_id >= token_floors.min_outbox_id of its
-- registration, and expires_at > now() (or it was already used: then
-- ConfirmRegistration returns the confirmed registration again).
CREATE TABLE tokens (
  token_hash      bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  outbox_id       bigint NOT NULL UNIQUE,
  registration_id text NOT NULL,
  event_id        text NOT NULL,
  expires_at      timestamptz NOT NULL,
  token_sealed    bytea,
  created_at      timestamptz NOT NULL DEFAULT now(),
  used_at         timestamptz
);
CREATE INDEX tokens_registration ON tokens (registration_id, outbox_id);

-- ResendConfirmation: tokens of outbox rows older than min_outbox_id stop
-- working at once (before the new message is even sent).
CREATE TABLE token_floors (
  registration_id text PRIMARY KEY,
  min_outbox_id   bigint NOT NULL
);
