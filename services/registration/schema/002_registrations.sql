-- Registrations, their idempotency keys, per-event counters, waitlist
-- counters and the outbox (schema `registration`). The design, and why
-- inserts are grouped per event, is in services/registration/README.md.
--
-- Status values are admit.v1.RegistrationStatus: 1 PENDING_CONFIRMATION,
-- 2 CONFIRMED, 3 WAITLISTED, 4 CANCELLED, 5 EXPIRED. "Live" = 1, 2 or 3.
-- Event ids are not foreign keys into `events`: the hot insert path stays
-- free of the per-row FK lock on the event row, and the service checks the
-- event (event_source.h) before it writes.

-- One row per event that has registrations, created on first use. Every
-- transaction that inserts registrations of the event or changes its
-- waitlist locks this row first (SELECT ... FOR UPDATE): inserts of one event
-- are serialized here, one group-commit batch at a time, so the unique
-- indexes below never make a transaction wait on another's uncommitted row,
-- and waitlist sequence numbers are handed out without gaps.
CREATE TABLE event_counters (
  event_id   text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per (event, ticket type) waitlist: last_seq is the last waitlist_seq handed
-- out (1, 2, ...; never reused); waitlisted the registrations WAITLISTED now.
-- Read by GetAvailability instead of counting registrations.
CREATE TABLE waitlist_counters (
  event_id       text NOT NULL,
  ticket_type_id text NOT NULL,
  last_seq       bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  waitlisted     integer NOT NULL DEFAULT 0
                 CHECK (waitlisted >= 0 AND waitlisted <= last_seq),
  PRIMARY KEY (event_id, ticket_type_id)
);

CREATE TABLE registrations (
  registration_id     text PRIMARY KEY,      -- lower-case random UUID
  event_id            text NOT NULL,
  ticket_type_id      text NOT NULL,
  -- Idempotency: the client's request_id and a SHA-256 (hex) of the
  -- normalized request (ticket type and attendee), to tell a retry from a
  -- different request under the same id.
  request_id          text NOT NULL,
  request_fingerprint text NOT NULL,
  -- The attendee, normalized (see Attendee in common.proto).
  email               text NOT NULL,
  full_name           text NOT NULL,
  organization        text NOT NULL DEFAULT '',
  organization_key    text NOT NULL DEFAULT '',  -- quota's org:<key>
  country_code        text NOT NULL,
  status              smallint NOT NULL CHECK (status BETWEEN 1 AND 5),
  -- Place in the ticket type's waitlist order, for registrations that were
  -- waitlisted (kept after promotion or cancellation); NULL otherwise.
  waitlist_seq        bigint,
  -- The quota hold taken for it (PENDING_CONFIRMATION, CONFIRMED, and kept
  -- after CANCELLED/EXPIRED for reconciliation); NULL when none was taken.
  hold_id             text,
  hold_expires_at     timestamptz,
  -- SHA-256 of the manage token, and the token sealed with AES-256-GCM
  -- (ADMIT_REGISTRATION_TOKEN_KEY, associated data = registration_id) so
  -- that a retry of the same request_id gets the same token back.
  manage_token_hash   bytea NOT NULL,
  manage_token_sealed bytea,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  confirmed_at        timestamptz,
  cancelled_at        timestamptz,
  expired_at          timestamptz,
  CHECK (status <> 3 OR waitlist_seq IS NOT NULL),
  CHECK (status <> 1 OR hold_id IS NOT NULL)
);

-- Same request_id within an event = the same registration (idempotency).
CREATE UNIQUE INDEX registrations_request
  ON registrations (event_id, request_id);
-- One live registration per (event, normalized email).
CREATE UNIQUE INDEX registrations_live_email
  ON registrations (event_id, email) WHERE status IN (1, 2, 3);
-- Waitlist order per ticket type; a position is a range count on it.
CREATE INDEX registrations_waitlist
  ON registrations (event_id, ticket_type_id, waitlist_seq) WHERE status = 3;
-- Reconciliation with the quota service (which hold belongs to whom).
CREATE INDEX registrations_hold
  ON registrations (hold_id) WHERE hold_id IS NOT NULL;

-- Transactional outbox: written in the same transaction as the registration,
-- drained by the confirmation flow (its own issue), which sets processed_at.
-- payload carries ids only (no personal data): the drainer reads the
-- attendee when it sends, so an erasure in between is respected.
CREATE TABLE outbox (
  outbox_id       bigserial PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('confirmation', 'waitlist')),
  registration_id text NOT NULL,
  event_id        text NOT NULL,
  payload         jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  processed_at    timestamptz
);
CREATE INDEX outbox_pending ON outbox (outbox_id) WHERE processed_at IS NULL;
