-- The organizer API's writes (issue 7): check-in, erasure of an attendee's
-- personal data, and the audit log of every organizer write. Design in
-- services/registration/README.md, "Organizer writes".

-- CheckIn: the first check-in's time (CONFIRMED registrations only). 005 and
-- 007 add the same columns (IF NOT EXISTS), whichever runs first.
ALTER TABLE registrations ADD COLUMN IF NOT EXISTS checked_in_at timestamptz;

-- EraseAttendeeData: when email and full_name were replaced by the tombstone
-- (empty strings). organization, organization_key and country_code are kept.
ALTER TABLE registrations ADD COLUMN IF NOT EXISTS erased_at timestamptz;

-- An erased registration no longer holds its (now empty) email: the live
-- email index skips it, so several erased live registrations of one event
-- do not collide on '' and the erased address can register again. The
-- Register probe (pg_registration_store.cc, LiveEmailProbe) states the same
-- predicate so that it still uses this index.
DROP INDEX registrations_live_email;
CREATE UNIQUE INDEX registrations_live_email
  ON registrations (event_id, email)
  WHERE status IN (1, 2, 3) AND erased_at IS NULL;

-- CheckIn looks a ticket up by its code (the code is an HMAC of the
-- registration id and cannot be inverted). Codes are unique per registration.
CREATE INDEX registrations_ticket_code
  ON registrations (ticket_code) WHERE ticket_code IS NOT NULL;

-- Every organizer write (CreateEvent, UpdateEvent, SetAllotment,
-- EraseAttendeeData, CheckIn) and every key change of the admin command
-- (keys create / revoke): who (the API key id; 'admin-command' for the
-- command), what, on what, when. detail is a JSON object of the changed
-- settings and outcomes, never personal data (no email, name or ticket code).
CREATE TABLE audit_log (
  audit_id   bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  key_id     text NOT NULL,
  action     text NOT NULL,
  event_id   text NOT NULL DEFAULT '',
  target     text NOT NULL DEFAULT '',
  detail     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_event ON audit_log (event_id, audit_id);
CREATE INDEX audit_log_key ON audit_log (key_id, audit_id);
