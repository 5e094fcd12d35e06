-- Quota holds given up by a Register attempt whose transaction failed,
-- recorded under the event's counter-row lock before the hold is released.
-- A group-commit batch (also under that lock) refuses to store a
-- registration whose hold is listed here: a copy of the same request on
-- another replica may hold the same derived hold id, and must not store a
-- PENDING registration on a seat that is being released. Its client retries
-- and gets a fresh hold (the next generation). See README.md, "Idempotency
-- and races".
CREATE TABLE abandoned_holds (
  hold_id    text PRIMARY KEY,
  event_id   text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
