-- The registration service's events and API keys, in schema `registration`
-- (search_path is the schema while this runs). Registrations and the outbox
-- come in 002.

-- One row per event (admit.v1.Event). Times are UTC instants; hold_ttl is
-- kept in milliseconds (Event.hold_ttl: 1 s to 7 days).
--
-- ready: false from the INSERT of CreateEvent until the quota service has the
-- event's quotas (QuotaService.SetQuotas succeeded). Every reader but
-- CreateEvent treats a row that is not ready as absent, so Register can never
-- accept an event without quotas. create_fingerprint (SHA-256 of the
-- CreateEvent request's event as sent) lets a retry of that same create
-- resume a row left not ready (quota service down, crash), and makes any
-- other create of the id ALREADY_EXISTS.
CREATE TABLE events (
  id                     text PRIMARY KEY,
  name                   text NOT NULL,
  description            text NOT NULL DEFAULT '',
  starts_at              timestamptz NOT NULL,
  ends_at                timestamptz NOT NULL,
  time_zone              text NOT NULL,
  registration_opens_at  timestamptz NOT NULL,
  registration_closes_at timestamptz NOT NULL,
  hold_ttl_ms            bigint NOT NULL
    CHECK (hold_ttl_ms BETWEEN 1000 AND 604800000),
  capacity               integer NOT NULL
    CHECK (capacity BETWEEN 1 AND 1000000),
  ready                  boolean NOT NULL DEFAULT false,
  create_fingerprint     bytea NOT NULL,
  -- Bumped by every change of the event's settings (optimistic concurrency
  -- for UpdateEvent).
  version                bigint NOT NULL DEFAULT 1,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_id_slug CHECK (id ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  CONSTRAINT events_dates CHECK (ends_at >= starts_at),
  CONSTRAINT events_window
    CHECK (registration_closes_at > registration_opens_at)
);

-- An event's ticket types, in display order (position 0, 1, ...).
-- capacity 0 = no limit of the type's own (only the event's applies).
CREATE TABLE ticket_types (
  event_id    text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  id          text NOT NULL,
  position    integer NOT NULL CHECK (position >= 0),
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  capacity    integer NOT NULL DEFAULT 0
    CHECK (capacity BETWEEN 0 AND 1000000),
  PRIMARY KEY (event_id, id),
  CONSTRAINT ticket_types_position UNIQUE (event_id, position)
    DEFERRABLE INITIALLY DEFERRED
);

-- OrganizerService API keys. The key a client sends is
-- "admit_<id>_<secret>"; only SHA-256(secret) is stored.
--   scope: 1 admin (every event, CreateEvent), 2 organizer (event_ids only).
--   read_only: only the reading calls (see organizer.proto).
--   revoked_at: set once by `keys revoke`; a revoked key never works again.
CREATE TABLE api_keys (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{1,32}$'),
  secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
  scope       smallint NOT NULL CHECK (scope IN (1, 2)),
  event_ids   text[] NOT NULL DEFAULT '{}',
  read_only   boolean NOT NULL DEFAULT false,
  name        text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  CONSTRAINT api_keys_scope_events CHECK (
    (scope = 1 AND cardinality(event_ids) = 0) OR
    (scope = 2 AND cardinality(event_ids) > 0))
);
