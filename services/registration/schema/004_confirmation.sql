-- The confirmation flow's side of the registration schema (issue 5): outbox
-- kinds for promotions and tickets, the ticket code of a CONFIRMED
-- registration, and the indexes of the expiry sweep, the waitlist promotion
-- pass and the resend rate limit. The outbox payload (v1) is described in
-- services/registration/OUTBOX.md.

-- 'promotion': a WAITLISTED registration got a seat (PENDING_CONFIRMATION);
-- 'ticket': it became CONFIRMED. The CHECK of 002 is unnamed: Postgres named
-- it outbox_kind_check.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
  CHECK (kind IN ('confirmation', 'waitlist', 'promotion', 'ticket'));

-- The ticket code the confirmation service issued (ConfirmRegistration); set
-- with status CONFIRMED, shown only while CONFIRMED.
ALTER TABLE registrations ADD COLUMN ticket_code text;

-- The payload's reason ("registered", "resend", ...), kept in a column of
-- its own because the confirmation service scrubs the payload once the row
-- is processed; the resend rate limit counts by it. NULL on rows older than
-- this migration.
ALTER TABLE outbox ADD COLUMN reason text;

-- Resend rate limit: the `confirmation` rows of one registration in the last
-- hour with reason "resend" (QueueConfirmationEmail).
CREATE INDEX outbox_registration_kind
  ON outbox (registration_id, kind, created_at);

-- Expiry sweep: PENDING_CONFIRMATION rows in hold_expires_at order.
CREATE INDEX registrations_pending_expiry
  ON registrations (hold_expires_at) WHERE status = 1;

-- Promotion pass: the (event, ticket type) pairs with someone waitlisted.
CREATE INDEX waitlist_counters_waiting
  ON waitlist_counters (event_id, ticket_type_id) WHERE waitlisted > 0;
