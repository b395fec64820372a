-- End-to-end encryption: the server keeps public keys and relays
-- ciphertext; it never sees a message's plaintext.

-- Each device's signed identity keys (JSON as uploaded, signatures kept).
CREATE TABLE device_keys (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    keys       TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- One-time keys, each claimed at most once.
CREATE TABLE one_time_keys (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    -- "signed_curve25519:AAAAHg"
    key_id     TEXT NOT NULL,
    algorithm  TEXT NOT NULL,
    key_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, key_id)
);
CREATE INDEX one_time_keys_claim ON one_time_keys(user_id, device_id, algorithm);

-- The key handed out when one-time keys run out; one per algorithm.
CREATE TABLE fallback_keys (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    algorithm  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    key_json   TEXT NOT NULL,
    used       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- Cross-signing keys: master, self_signing, user_signing.
CREATE TABLE cross_signing_keys (
    user_id    TEXT NOT NULL,
    key_type   TEXT NOT NULL,
    keys       TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded for keys (a device signed by a self-signing key, a
-- master key signed by a device or by another user's user-signing key).
CREATE TABLE key_signatures (
    target_user    TEXT NOT NULL,
    -- A device id, or the base64 public key of a cross-signing key.
    target_key     TEXT NOT NULL,
    signer_user    TEXT NOT NULL,
    signer_key_id  TEXT NOT NULL,
    signature      TEXT NOT NULL,
    PRIMARY KEY (target_user, target_key, signer_user, signer_key_id)
);

-- Whose device list changed, in order: sync's device_lists.changed.
CREATE TABLE device_list_changes (
    stream_id  BIGINT NOT NULL,
    user_id    TEXT NOT NULL
);
CREATE INDEX device_list_changes_stream ON device_list_changes(stream_id);

-- To-device messages waiting for their device; deleted once the device's
-- sync acknowledges them by using a later token.
CREATE TABLE to_device_messages (
    stream_id         BIGINT NOT NULL,
    recipient_user    TEXT NOT NULL,
    recipient_device  TEXT NOT NULL,
    sender            TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    content           TEXT NOT NULL
);
CREATE INDEX to_device_inbox ON to_device_messages(recipient_user, recipient_device, stream_id);

-- sendToDevice transaction ids already carried out.
CREATE TABLE to_device_txns (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Server-side room key backups.
CREATE TABLE backup_versions (
    user_id    TEXT NOT NULL,
    version    BIGINT NOT NULL,
    algorithm  TEXT NOT NULL,
    auth_data  TEXT NOT NULL,
    etag       BIGINT NOT NULL DEFAULT 0,
    deleted    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE backup_keys (
    user_id              TEXT NOT NULL,
    version              BIGINT NOT NULL,
    room_id              TEXT NOT NULL,
    session_id           TEXT NOT NULL,
    first_message_index  BIGINT NOT NULL,
    forwarded_count      BIGINT NOT NULL,
    is_verified          BIGINT NOT NULL,
    session_data         TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

INSERT INTO stream_counters (name, value) VALUES ('to_device', 0);
INSERT INTO stream_counters (name, value) VALUES ('device_lists', 0);
