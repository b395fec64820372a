-- Rooms application services publish in their networks' directories
-- (PUT /directory/list/appservice/{networkId}/{roomId}): listed by
-- /publicRooms under the instance `{appservice_id}|{network_id}`, or with
-- include_all_networks, and not in the server's own list.
CREATE TABLE appservice_room_directory (
    appservice_id TEXT NOT NULL,
    network_id    TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    PRIMARY KEY (appservice_id, network_id, room_id)
);

-- Application services with device management (MSC3202) read the
-- to-device queue by position.
CREATE INDEX to_device_by_stream ON to_device_messages(stream_id);
