-- Login identifiers, PostgreSQL flavour. Keep in step with ../sqlite/0014_login_keys.sql.
-- Every email and username of every account, by its comparison key (roster_core::user::
-- login_key: an email's key has its local part NFKC-normalised and case-folded and its domain
-- in IDNA form; a username's key is its folded text, or an email's key when it is an email
-- address). The primary key makes a login name at most one account, whatever the dialect or
-- path that writes the user: an email may not equal another account's username, nor a
-- username another's email. The store writes a user's keys in the transaction that writes the
-- user; the keys of accounts stored before this migration are filled by Roster on its first
-- start (the oldest account keeps a key two old accounts share).
CREATE TABLE login_keys (
    login_key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX login_keys_user_id_idx ON login_keys (user_id);
