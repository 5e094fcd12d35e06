-- OrganizerService.GetRegistrationCounts / WatchRegistrationCounts (issue 7):
-- registration counts maintained by triggers, so reading an event's counts
-- never counts registrations. Design in services/registration/README.md,
-- "Registration counts".
--
-- registration_counts holds, per event, one row per (dimension, key, slot):
--   dim 0  the whole event (key '')
--   dim 1  a ticket type (key = ticket_type_id)
--   dim 2  an organization (key = organization_key: the quota match key,
--          i.e. organizations grouped ignoring ASCII case; '' = none given)
--   dim 3  a country (key = country_code)
-- with the number of registrations in each status, checked_in (CONFIRMED
-- with checked_in_at set) and `changes` (bumped by every statement that
-- changed the row: the sum over an event's dim-0 rows is a version the watch
-- hub polls). The event's counts are the sums over the slots (GROUP BY dim,
-- key): at most (1 + types + organizations + countries) x 16 rows, read
-- through the primary key.
--
-- Slots: a writing transaction adds its deltas to slot txid % 16 only, so two
-- concurrent transactions of one event (a Register batch and a confirmation,
-- two cancellations) wait for each other on a counter row only when they
-- land in the same slot (1 in 16), instead of every status change of the
-- event queueing on one row. Within a statement the rows are upserted in
-- (event, dim, key) order, so statements lock counter rows in one global
-- order (no deadlock between two single-statement writers).
--
-- Exactness: the triggers run in the writing transaction, so the counters
-- commit or roll back with the registrations they count; one SELECT over
-- registration_counts sees one snapshot, equal to a full scan of
-- registrations in that snapshot (the pgtest checks this under a concurrent
-- mix). TRUNCATE of registrations is not tracked (nothing does it).

-- Check-in (issue 7) sets checked_in_at; 006/007 add it too (IF NOT EXISTS).
ALTER TABLE registrations ADD COLUMN IF NOT EXISTS checked_in_at timestamptz;

CREATE TABLE registration_counts (
  event_id   text NOT NULL,
  dim        smallint NOT NULL CHECK (dim BETWEEN 0 AND 3),
  key        text NOT NULL,
  slot       smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
  pending    integer NOT NULL DEFAULT 0,
  confirmed  integer NOT NULL DEFAULT 0,
  waitlisted integer NOT NULL DEFAULT 0,
  cancelled  integer NOT NULL DEFAULT 0,
  expired    integer NOT NULL DEFAULT 0,
  checked_in integer NOT NULL DEFAULT 0,
  changes    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (event_id, dim, key, slot)
);

-- The display spelling of each organization of an event: the first one
-- registered (organizations are grouped by organization_key). SetAllotment
-- may overwrite it with the allotment's spelling.
CREATE TABLE registration_count_organizations (
  event_id         text NOT NULL,
  organization_key text NOT NULL,
  organization     text NOT NULL,
  PRIMARY KEY (event_id, organization_key)
);

-- The trigger functions run in the writer's session, whose search_path need
-- not name this schema: they keep the one this migration runs with.
--
-- Deltas of one statement: `d` = the changed rows, +1 for new images and -1
-- for old ones; rows whose counted columns did not change cancel out and
-- nothing is written for them.
CREATE FUNCTION registration_counts_apply_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  s smallint := (txid_current() % 16)::smallint;
BEGIN
  INSERT INTO registration_count_organizations AS o
    (event_id, organization_key, organization)
  SELECT DISTINCT ON (n.event_id, n.organization_key)
         n.event_id, n.organization_key, n.organization
    FROM new_rows n
   WHERE n.organization_key <> ''
   ORDER BY n.event_id, n.organization_key, n.created_at, n.registration_id
  ON CONFLICT DO NOTHING;

  INSERT INTO registration_counts AS c (event_id, dim, key, slot, pending,
      confirmed, waitlisted, cancelled, expired, checked_in, changes)
  SELECT g.event_id, g.dim, g.key, s, g.p, g.c, g.w, g.x, g.e, g.ci, 1
    FROM (SELECT d.event_id, k.dim, k.key,
                 count(*) FILTER (WHERE d.status = 1)::int AS p,
                 count(*) FILTER (WHERE d.status = 2)::int AS c,
                 count(*) FILTER (WHERE d.status = 3)::int AS w,
                 count(*) FILTER (WHERE d.status = 4)::int AS x,
                 count(*) FILTER (WHERE d.status = 5)::int AS e,
                 count(*) FILTER (WHERE d.status = 2
                                  AND d.checked_in_at IS NOT NULL)::int AS ci
            FROM new_rows d
           CROSS JOIN LATERAL (VALUES (0::smallint, ''::text),
                                      (1::smallint, d.ticket_type_id),
                                      (2::smallint, d.organization_key),
                                      (3::smallint, d.country_code)) AS k(dim, key)
           GROUP BY d.event_id, k.dim, k.key) g
   ORDER BY g.event_id, g.dim, g.key
  ON CONFLICT (event_id, dim, key, slot) DO UPDATE
    SET pending = c.pending + EXCLUDED.pending,
        confirmed = c.confirmed + EXCLUDED.confirmed,
        waitlisted = c.waitlisted + EXCLUDED.waitlisted,
        cancelled = c.cancelled + EXCLUDED.cancelled,
        expired = c.expired + EXCLUDED.expired,
        checked_in = c.checked_in + EXCLUDED.checked_in,
        changes = c.changes + 1;
  RETURN NULL;
END $$;

CREATE FUNCTION registration_counts_apply_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  s smallint := (txid_current() % 16)::smallint;
BEGIN
  INSERT INTO registration_count_organizations AS o
    (event_id, organization_key, organization)
  SELECT DISTINCT ON (n.event_id, n.organization_key)
         n.event_id, n.organization_key, n.organization
    FROM new_rows n
   WHERE n.organization_key <> ''
   ORDER BY n.event_id, n.organization_key, n.created_at, n.registration_id
  ON CONFLICT DO NOTHING;

  INSERT INTO registration_counts AS c (event_id, dim, key, slot, pending,
      confirmed, waitlisted, cancelled, expired, checked_in, changes)
  SELECT g.event_id, g.dim, g.key, s, g.p, g.c, g.w, g.x, g.e, g.ci, 1
    FROM (SELECT d.event_id, k.dim, k.key,
                 coalesce(sum(d.sign) FILTER (WHERE d.status = 1), 0)::int AS p,
                 coalesce(sum(d.sign) FILTER (WHERE d.status = 2), 0)::int AS c,
                 coalesce(sum(d.sign) FILTER (WHERE d.status = 3), 0)::int AS w,
                 coalesce(sum(d.sign) FILTER (WHERE d.status = 4), 0)::int AS x,
                 coalesce(sum(d.sign) FILTER (WHERE d.status = 5), 0)::int AS e,
                 coalesce(sum(d.sign) FILTER (WHERE d.status = 2
                          AND d.checked_in_at IS NOT NULL), 0)::int AS ci
            FROM (SELECT event_id, ticket_type_id, organization_key,
                         country_code, status, checked_in_at, 1 AS sign
                    FROM new_rows
                  UNION ALL
                  SELECT event_id, ticket_type_id, organization_key,
                         country_code, status, checked_in_at, -1 AS sign
                    FROM old_rows) d
           CROSS JOIN LATERAL (VALUES (0::smallint, ''::text),
                                      (1::smallint, d.ticket_type_id),
                                      (2::smallint, d.organization_key),
                                      (3::smallint, d.country_code)) AS k(dim, key)
           GROUP BY d.event_id, k.dim, k.key) g
   WHERE g.p <> 0 OR g.c <> 0 OR g.w <> 0 OR g.x <> 0 OR g.e <> 0
      OR g.ci <> 0
   ORDER BY g.event_id, g.dim, g.key
  ON CONFLICT (event_id, dim, key, slot) DO UPDATE
    SET pending = c.pending + EXCLUDED.pending,
        confirmed = c.confirmed + EXCLUDED.confirmed,
        waitlisted = c.waitlisted + EXCLUDED.waitlisted,
        cancelled = c.cancelled + EXCLUDED.cancelled,
        expired = c.expired + EXCLUDED.expired,
        checked_in = c.checked_in + EXCLUDED.checked_in,
        changes = c.changes + 1;
  RETURN NULL;
END $$;

CREATE FUNCTION registration_counts_apply_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  s smallint := (txid_current() % 16)::smallint;
BEGIN
  INSERT INTO registration_counts AS c (event_id, dim, key, slot, pending,
      confirmed, waitlisted, cancelled, expired, checked_in, changes)
  SELECT g.event_id, g.dim, g.key, s, -g.p, -g.c, -g.w, -g.x, -g.e, -g.ci, 1
    FROM (SELECT d.event_id, k.dim, k.key,
                 count(*) FILTER (WHERE d.status = 1)::int AS p,
                 count(*) FILTER (WHERE d.status = 2)::int AS c,
                 count(*) FILTER (WHERE d.status = 3)::int AS w,
                 count(*) FILTER (WHERE d.status = 4)::int AS x,
                 count(*) FILTER (WHERE d.status = 5)::int AS e,
                 count(*) FILTER (WHERE d.status = 2
                                  AND d.checked_in_at IS NOT NULL)::int AS ci
            FROM old_rows d
           CROSS JOIN LATERAL (VALUES (0::smallint, ''::text),
                                      (1::smallint, d.ticket_type_id),
                                      (2::smallint, d.organization_key),
                                      (3::smallint, d.country_code)) AS k(dim, key)
           GROUP BY d.event_id, k.dim, k.key) g
   ORDER BY g.event_id, g.dim, g.key
  ON CONFLICT (event_id, dim, key, slot) DO UPDATE
    SET pending = c.pending + EXCLUDED.pending,
        confirmed = c.confirmed + EXCLUDED.confirmed,
        waitlisted = c.waitlisted + EXCLUDED.waitlisted,
        cancelled = c.cancelled + EXCLUDED.cancelled,
        expired = c.expired + EXCLUDED.expired,
        checked_in = c.checked_in + EXCLUDED.checked_in,
        changes = c.changes + 1;
  RETURN NULL;
END $$;

-- Creating the triggers locks registrations against writes until this
-- migration commits, so the back-fill below counts exactly the rows that
-- exist when the triggers start counting.
CREATE TRIGGER registration_counts_insert AFTER INSERT ON registrations
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION registration_counts_apply_insert();
CREATE TRIGGER registration_counts_update AFTER UPDATE ON registrations
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION registration_counts_apply_update();
CREATE TRIGGER registration_counts_delete AFTER DELETE ON registrations
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION registration_counts_apply_delete();

-- Back-fill: the registrations that exist now, in slot 0.
INSERT INTO registration_count_organizations
  (event_id, organization_key, organization)
SELECT DISTINCT ON (event_id, organization_key)
       event_id, organization_key, organization
  FROM registrations
 WHERE organization_key <> ''
 ORDER BY event_id, organization_key, created_at, registration_id;

INSERT INTO registration_counts (event_id, dim, key, slot, pending, confirmed,
    waitlisted, cancelled, expired, checked_in, changes)
SELECT r.event_id, k.dim, k.key, 0,
       count(*) FILTER (WHERE r.status = 1),
       count(*) FILTER (WHERE r.status = 2),
       count(*) FILTER (WHERE r.status = 3),
       count(*) FILTER (WHERE r.status = 4),
       count(*) FILTER (WHERE r.status = 5),
       count(*) FILTER (WHERE r.status = 2 AND r.checked_in_at IS NOT NULL),
       1
  FROM registrations r
 CROSS JOIN LATERAL (VALUES (0::smallint, ''::text),
                            (1::smallint, r.ticket_type_id),
                            (2::smallint, r.organization_key),
                            (3::smallint, r.country_code)) AS k(dim, key)
 GROUP BY r.event_id, k.dim, k.key;
