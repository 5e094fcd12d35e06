-- OrganizerService.ListRegistrations and ExportRegistrations (issue 7):
-- the indexes of their keyset (seek) paging, and the order they page in.
--
-- Order: (created_at, registration_id), oldest first. Paging seeks past the
-- last row returned: WHERE (created_at, registration_id) > (cursor) ORDER BY
-- created_at, registration_id LIMIT n, one index range scan per page.
--
-- created_at now comes from clock_timestamp(), not now(): inserts of one
-- event hold the event_counters row lock (002) when they insert, so a row's
-- created_at is read after every earlier insert of the event committed, and
-- a row committed later always sorts after every row a reader could already
-- see. With now() (the transaction's start) a batch that waited for the lock
-- got an older time than the batch that went before it, and a pager past
-- that time would skip it.
ALTER TABLE registrations ALTER COLUMN created_at SET DEFAULT clock_timestamp();

-- No filter: the event's registrations in paging order.
CREATE INDEX registrations_list
  ON registrations (event_id, created_at, registration_id);
-- One index per filter that can be selective, each in paging order, so a
-- page with a rare value is one range scan, not a scan of the whole event.
CREATE INDEX registrations_list_status
  ON registrations (event_id, status, created_at, registration_id);
CREATE INDEX registrations_list_type
  ON registrations (event_id, ticket_type_id, created_at, registration_id);
CREATE INDEX registrations_list_org
  ON registrations (event_id, organization_key, created_at, registration_id);
-- Email prefix: lower(email) compared byte-wise (COLLATE "C"), so that
-- lower(email) LIKE 'prefix%' is a range scan whatever the database's
-- collation.
CREATE INDEX registrations_list_email
  ON registrations (event_id, (lower(email)) COLLATE "C");
