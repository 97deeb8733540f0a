-- SCIM push, each group created at most once on a target (PostgreSQL flavour). Keep in step
-- with ../sqlite/0044_scim_push_groups.sql.
--
-- A delivery about a group's membership is in two lanes: its user's and its group's
-- (`group_id`, from the event's payload; NULL for user events). The worker claims the
-- earliest pending delivery of each lane only, so two deliveries that touch one group are
-- never sent at once. `scim_target_groups` remembers the target's id of each group pushed
-- there, so a later push (after a rename, too) updates that group instead of looking it up
-- by name; it is written only while the delivery that created the group still holds its claim.
ALTER TABLE scim_deliveries ADD COLUMN group_id BIGINT;
UPDATE scim_deliveries SET group_id = (
    SELECT CAST(o.payload ->> 'group_id' AS BIGINT) FROM outbox o WHERE o.seq = scim_deliveries.event_seq
) WHERE status = 'pending';
CREATE INDEX scim_deliveries_group_idx ON scim_deliveries (target_id, group_id, event_seq);

CREATE TABLE scim_target_groups (
    target_id BIGINT NOT NULL REFERENCES scim_targets (id) ON DELETE CASCADE,
    group_id  BIGINT NOT NULL,
    remote_id TEXT NOT NULL,
    PRIMARY KEY (target_id, group_id)
);
