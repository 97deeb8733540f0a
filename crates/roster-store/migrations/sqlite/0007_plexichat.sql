-- The chat products' social records (the Plexichat dialect and the native API): messaging
-- settings, badges, channels (personal notes and direct messages), blocks and friendships,
-- SQLite flavour. Keep in step with ../postgres/0007_plexichat.sql (the parity tests check
-- this). Every row goes with its user (ON DELETE CASCADE), inside the user's delete
-- transaction.

-- A user's messaging preferences; no row: the defaults. The max_* limits are set by
-- administrators only (NULL: no limit of the user's own).
CREATE TABLE messaging_settings (
    user_id                     BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    read_receipts_enabled       BOOLEAN NOT NULL,
    typing_indicators_enabled   BOOLEAN NOT NULL,
    compact_messages_enabled    BOOLEAN NOT NULL,
    allow_dms_from              TEXT NOT NULL CHECK (allow_dms_from IN ('everyone', 'friends', 'none')),
    auto_create_dms             BOOLEAN NOT NULL,
    max_message_length          BIGINT,
    max_attachment_size         BIGINT,
    max_attachments_per_message BIGINT,
    updated_at                  BIGINT NOT NULL
);

-- Badges an administrator gave a user, shown on its profile.
CREATE TABLE user_badges (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    badge      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, badge)
);

-- Channels: a user's one notes channel (user_low = user_high = the owner) and the direct
-- message channel of two users (user_low < user_high), each at most once.
CREATE TABLE channels (
    id              BIGINT NOT NULL PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('notes', 'dm')),
    user_low        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_high       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT,
    last_message_id BIGINT,
    last_message_at BIGINT,
    created_at      BIGINT NOT NULL,
    CHECK ((kind = 'notes' AND user_low = user_high) OR (kind = 'dm' AND user_low < user_high)),
    UNIQUE (kind, user_low, user_high)
);
CREATE INDEX channels_user_high_idx ON channels (user_high);

-- Who blocked whom.
CREATE TABLE user_blocks (
    blocker_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX user_blocks_blocked_idx ON user_blocks (blocked_id);

-- A friend request (accepted_at NULL) or a friendship, once per pair (user_low < user_high).
CREATE TABLE friendships (
    user_low     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_high    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    requester_id BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    CHECK (user_low < user_high AND requester_id IN (user_low, user_high)),
    PRIMARY KEY (user_low, user_high)
);
CREATE INDEX friendships_user_high_idx ON friendships (user_high);
