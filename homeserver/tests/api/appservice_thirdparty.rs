//! Third-party networks: a bridge (wiremock) declares `protocols: [irc]`,
//! and clients' lookups of the protocol, its portal rooms and its users
//! are answered by asking it, with the `hs_token`.

use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::{
    appservice_api::{AS_TOKEN, HS_TOKEN, registration, server_with},
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    clients_look_up_bridged_networks,
    bridges_list_rooms_in_their_networks,
    rooms_a_bridge_keeps_are_published_by_it_alone,
);

/// Answers `GET /_matrix/app/v1/thirdparty/{path}` (with these query
/// parameters) with `body`, for callers with the hs_token only.
async fn answer(mock: &MockServer, path: &str, query: &[(&str, &str)], body: serde_json::Value) {
    let mut expected = Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/_matrix/app/v1/thirdparty/{path}")))
        .and(matchers::header("authorization", format!("Bearer {HS_TOKEN}").as_str()));
    for (key, value) in query {
        expected = expected.and(matchers::query_param(*key, *value));
    }
    expected.respond_with(ResponseTemplate::new(200).set_body_json(body)).mount(mock).await;
}

async fn clients_look_up_bridged_networks(backend: Backend) {
    let mock = MockServer::start().await;
    let irc = json!({
        "user_fields": ["network", "nickname"],
        "location_fields": ["network", "channel"],
        "icon": "mxc://localhost/irc",
        "field_types": {
            "network": {"regexp": "([a-z0-9]+\\.)*[a-z0-9]+", "placeholder": "libera.chat"},
            "nickname": {"regexp": "[^\\s#]+", "placeholder": "carol"},
            "channel": {"regexp": "#[^\\s]+", "placeholder": "#rust"},
        },
        "instances": [{"desc": "Libera", "network_id": "libera", "fields": {"network": "libera.chat"}}],
    });
    answer(&mock, "protocol/irc", &[], irc).await;
    let rust = json!([{"alias": "#bridge_rust:localhost", "protocol": "irc",
        "fields": {"network": "libera.chat", "channel": "#rust"}}]);
    answer(&mock, "location/irc", &[("channel", "#rust")], rust.clone()).await;
    answer(&mock, "location", &[("alias", "#bridge_rust:localhost")], rust).await;
    let carol = json!([{"userid": "@bridge_carol:localhost", "protocol": "irc",
        "fields": {"network": "libera.chat", "nickname": "carol"}}]);
    answer(&mock, "user/irc", &[("nickname", "carol")], carol.clone()).await;
    answer(&mock, "user", &[("userid", "@bridge_carol:localhost")], carol).await;

    let declared = format!("{}protocols: [irc]\n", registration(&mock.uri()));
    let (s, _dir): (TestServer, _) = server_with(backend, &declared).await;
    let alice = s.register("alice", "pw").await;
    let token = Some(alice.token.as_str());

    let protocols = s.get("/_matrix/client/v3/thirdparty/protocols", token).await.ok();
    let instance = &protocols["irc"]["instances"][0];
    assert_eq!(instance["network_id"], "libera", "{protocols}");
    assert_eq!(instance["instance_id"], "bridge|libera", "an id unique on the server");
    let one = s.get("/_matrix/client/v3/thirdparty/protocol/irc", token).await.ok();
    assert_eq!(one["location_fields"], json!(["network", "channel"]));
    s.get("/_matrix/client/v3/thirdparty/protocol/xmpp", token).await.err(404, "M_NOT_FOUND");

    let path = "/_matrix/client/v3/thirdparty/location/irc?channel=%23rust";
    let found = s.get(path, token).await.ok();
    assert_eq!(found[0]["alias"], "#bridge_rust:localhost", "{found}");
    let path = "/_matrix/client/v3/thirdparty/location/irc?channel=%23nowhere";
    s.get(path, token).await.err(404, "M_NOT_FOUND");
    let path = "/_matrix/client/v3/thirdparty/user/irc?nickname=carol";
    let found = s.get(path, token).await.ok();
    assert_eq!(found[0]["userid"], "@bridge_carol:localhost", "{found}");

    // And back: what a portal or a ghost stands for.
    let path = "/_matrix/client/v3/thirdparty/location?alias=%23bridge_rust%3Alocalhost";
    let found = s.get(path, token).await.ok();
    assert_eq!(found[0]["fields"]["channel"], "#rust", "{found}");
    let path = "/_matrix/client/v3/thirdparty/user?userid=%40bridge_carol%3Alocalhost";
    let found = s.get(path, token).await.ok();
    assert_eq!(found[0]["fields"]["nickname"], "carol", "{found}");

    // Only users may look.
    s.get("/_matrix/client/v3/thirdparty/protocols", None).await.err(401, "M_MISSING_TOKEN");
}

async fn bridges_list_rooms_in_their_networks(backend: Backend) {
    let (s, _dir) = server_with(backend, &registration("null")).await;
    let alice = s.register("alice", "pw").await;
    let portal = s.create_room(&alice.token, json!({"name": "#rust on Libera"})).await;
    let ordinary = s.create_room(&alice.token, json!({"name": "Lattice"})).await;
    s.put(
        &format!("/_matrix/client/v3/directory/list/room/{ordinary}"),
        Some(&alice.token),
        json!({"visibility": "public"}),
    )
    .await
    .ok();

    // Only a bridge may list a room in its network's directory.
    let listing = format!("/_matrix/client/v3/directory/list/appservice/libera/{portal}");
    s.put(&listing, Some(&alice.token), json!({"visibility": "public"}))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    s.put(&listing, Some(AS_TOKEN), json!({"visibility": "public"})).await.ok();
    let nowhere = "/_matrix/client/v3/directory/list/appservice/libera/!nowhere:localhost";
    s.put(nowhere, Some(AS_TOKEN), json!({"visibility": "public"})).await.err(404, "M_NOT_FOUND");

    let names = |page: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = page["chunk"]
            .as_array()
            .map(|rooms| {
                rooms.iter().filter_map(|r| r["name"].as_str().map(str::to_owned)).collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let token = Some(alice.token.as_str());
    let directory = "/_matrix/client/v3/publicRooms";
    // The server's own list leaves bridged networks out...
    assert_eq!(names(&s.post(directory, token, json!({})).await.ok()), ["Lattice"]);
    // ...one network's list has only its rooms...
    let libera = json!({"third_party_instance_id": "bridge|libera"});
    assert_eq!(names(&s.post(directory, token, libera.clone()).await.ok()), ["#rust on Libera"]);
    let other = json!({"third_party_instance_id": "bridge|oftc"});
    assert!(names(&s.post(directory, token, other).await.ok()).is_empty());
    // ...and all networks together have everything.
    let all = json!({"include_all_networks": true});
    assert_eq!(names(&s.post(directory, token, all).await.ok()), ["#rust on Libera", "Lattice"]);

    // Withdrawn, it is gone.
    s.put(&listing, Some(AS_TOKEN), json!({"visibility": "private"})).await.ok();
    assert!(names(&s.post(directory, token, libera).await.ok()).is_empty());
}

async fn rooms_a_bridge_keeps_are_published_by_it_alone(backend: Backend) {
    // A bridge that claims every room for itself alone (room ids of room
    // version 12 carry no server name).
    let keeping = registration("null")
        .replace("  aliases:", "  rooms:\n    - exclusive: true\n      regex: '!.*'\n  aliases:");
    let (s, _dir) = server_with(backend, &keeping).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let publish = format!("/_matrix/client/v3/directory/list/room/{room}");
    s.put(&publish, Some(&alice.token), json!({"visibility": "public"}))
        .await
        .err(400, "M_EXCLUSIVE");
    // The bridge's own user publishes its rooms.
    let portal = s.create_room(AS_TOKEN, json!({})).await;
    let publish = format!("/_matrix/client/v3/directory/list/room/{portal}");
    s.put(&publish, Some(AS_TOKEN), json!({"visibility": "public"})).await.ok();
    let listed = s.post("/_matrix/client/v3/publicRooms", Some(&alice.token), json!({})).await.ok();
    assert_eq!(listed["chunk"][0]["room_id"], portal.as_str(), "{listed}");
    assert_eq!(listed["chunk"].as_array().map(Vec::len), Some(1), "{listed}");
}
