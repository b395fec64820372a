-- Each user's server notices room (the server writes, the user reads).
CREATE TABLE server_notice_rooms (
    user_id  TEXT PRIMARY KEY,
    room_id  TEXT NOT NULL
);
