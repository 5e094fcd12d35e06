-- The quota service's tables, in schema `quota` (search_path is the schema
-- while this runs). See services/quota/README.md for the design.

-- One row per quota. held/sold are the seats owned by HELD / COMMITTED holds
-- that draw from it; every writer changes them in the same transaction as
-- the holds, with the row locked (SELECT ... FOR UPDATE, canonical order:
-- kind, organization, ticket_type_id; the EVENT row first).
CREATE TABLE quotas (
  quota_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id       text NOT NULL,
  kind           smallint NOT NULL CHECK (kind IN (1, 2, 3)),
  ticket_type_id text NOT NULL DEFAULT '',
  organization   text NOT NULL DEFAULT '',
  capacity       integer NOT NULL CHECK (capacity BETWEEN 0 AND 1000000),
  held           integer NOT NULL DEFAULT 0,
  sold           integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- The invariant, as a last line of defence: a bug that would oversell
  -- fails its transaction instead.
  CONSTRAINT quotas_use_within_capacity
    CHECK (held >= 0 AND sold >= 0 AND held + sold <= capacity),
  CONSTRAINT quotas_key_shape CHECK (
    (kind = 1 AND ticket_type_id = '' AND organization = '') OR
    (kind = 2 AND ticket_type_id <> '' AND organization = '') OR
    (kind = 3 AND organization <> '')),
  CONSTRAINT quotas_key UNIQUE (event_id, kind, organization, ticket_type_id)
);

-- One row per hold_id ever used (including ids burned by Release).
--   state: 1 HELD, 2 COMMITTED, 3 RELEASED, 4 EXPIRED.
--   quota_ids: the quota rows the hold's seat is counted in (surrogate ids,
--     so a quota removed and re-created later is never decremented by holds
--     it did not count).
--   quota_mask: which of the candidate keys (event, type, org, org/type) the
--     hold drew from, to report Hold.quotas.
CREATE TABLE holds (
  hold_id        text PRIMARY KEY,
  event_id       text NOT NULL DEFAULT '',
  ticket_type_id text NOT NULL DEFAULT '',
  organization   text NOT NULL DEFAULT '',
  state          smallint NOT NULL CHECK (state IN (1, 2, 3, 4)),
  quota_ids      bigint[] NOT NULL DEFAULT '{}',
  quota_mask     smallint NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz,
  committed_at   timestamptz,
  ended_at       timestamptz,
  release_reason smallint NOT NULL DEFAULT 0,
  CONSTRAINT holds_held_expires CHECK (state <> 1 OR expires_at IS NOT NULL)
);

-- The sweeper's scan: HELD holds by expiry.
CREATE INDEX holds_due ON holds (expires_at) WHERE state = 1;
-- A quota created later adopts the event's live holds it applies to.
CREATE INDEX holds_event_live ON holds (event_id, ticket_type_id)
  WHERE state IN (1, 2);
