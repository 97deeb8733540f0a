-- Users' synced settings and tiers, PostgreSQL flavour. Keep in step with
-- ../sqlite/0018_settings_and_tiers.sql (the parity tests check this).

-- A user's cloud-synced preferences: a free-form string-to-string store (Plexichat's
-- `/users/@me/settings`); the core keeps its limits (count, key and value lengths).
CREATE TABLE user_settings (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, name)
);

-- Tiers: named sets of limits (a JSON object of limit name -> number); exactly one is the
-- default, the tier of every user without a current assignment.
CREATE TABLE tiers (
    name       TEXT NOT NULL PRIMARY KEY,
    limits     JSONB NOT NULL,
    is_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tiers_one_default_idx ON tiers (is_default) WHERE is_default;

-- A user's tier, given by an administrator, until expires_at (ms; NULL: no end). A deleted
-- tier takes its assignments with it (those users are back on the default).
CREATE TABLE user_tiers (
    user_id    BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tier       TEXT NOT NULL REFERENCES tiers (name) ON DELETE CASCADE,
    expires_at BIGINT,
    granted_by BIGINT,
    granted_at BIGINT NOT NULL,
    notes      TEXT
);
CREATE INDEX user_tiers_tier_idx ON user_tiers (tier);

-- Plexichat's three tiers (its `TierLimits` defaults), `standard` the default.
INSERT INTO tiers (name, limits, is_default, created_at, updated_at) VALUES
    ('standard', '{"multiplier": 1.0, "max_voice_minutes_per_day": 120, "max_video_minutes_per_day": 60, "max_file_uploads_per_day": 50, "max_file_size_mb": 10, "max_servers": 100, "max_message_length": 2000, "max_reactions_per_message": 20, "max_pins_per_channel": 50, "custom_emoji_slots": 50}', TRUE,
     (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT),
    ('alpha', '{"multiplier": 2.0, "max_voice_minutes_per_day": 480, "max_video_minutes_per_day": 240, "max_file_uploads_per_day": 200, "max_file_size_mb": 25, "max_servers": 200, "max_message_length": 2000, "max_reactions_per_message": 20, "max_pins_per_channel": 50, "custom_emoji_slots": 50}', FALSE,
     (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT),
    ('premium', '{"multiplier": 3.0, "max_voice_minutes_per_day": -1, "max_video_minutes_per_day": -1, "max_file_uploads_per_day": 500, "max_file_size_mb": 100, "max_servers": 500, "max_message_length": 2000, "max_reactions_per_message": 20, "max_pins_per_channel": 50, "custom_emoji_slots": 50}', FALSE,
     (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT);
