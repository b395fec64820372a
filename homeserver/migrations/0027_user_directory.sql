-- The user directory: each user's latest public profile (their own for
-- local users, the last join event's for remote ones). Who may find whom
-- is decided from current_state at search time, so this table only names.
-- search_key is the lower-cased user id and display name, matched by LIKE.
CREATE TABLE user_directory (
    user_id       TEXT PRIMARY KEY,
    display_name  TEXT,
    avatar_url    TEXT,
    search_key    TEXT NOT NULL
);

-- Accounts made before the directory: findable by id until their next
-- profile change names them.
INSERT INTO user_directory (user_id, search_key)
    SELECT user_id, LOWER(user_id) FROM users WHERE deactivated = 0;
