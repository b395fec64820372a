-- Pushing events to application services. Each service follows the event
-- stream from `position`; the events it is interested in go out as a
-- transaction, which is written here (and the position moved past its
-- events) before it is sent, and deleted once the service took it: a
-- restart sends the same transaction, with the same id, again. At most
-- one is pending per service, so that order holds.
CREATE TABLE appservice_state (
    appservice_id TEXT PRIMARY KEY,
    position      BIGINT NOT NULL,
    next_txn      BIGINT NOT NULL
);

CREATE TABLE appservice_txns (
    appservice_id TEXT PRIMARY KEY,
    txn_id        BIGINT NOT NULL,
    body          TEXT NOT NULL,
    -- How many events it carries (for the admin API and metrics).
    events        BIGINT NOT NULL
);
