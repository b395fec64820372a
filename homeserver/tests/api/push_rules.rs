//! Push rules: server defaults and user rules.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(default_push_rules_are_served, user_push_rules_can_be_managed);

async fn default_push_rules_are_served(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let all = s.get("/_matrix/client/v3/pushrules/", Some(&alice.token)).await.ok();
    let overrides = all["global"]["override"].as_array().expect("override rules");
    assert_eq!(overrides[0]["rule_id"], ".m.rule.master");
    // Every kind is listed, the empty ones too: clients index them directly.
    let global = s.get("/_matrix/client/v3/pushrules/global/", Some(&alice.token)).await.ok();
    for kind in ["override", "content", "room", "sender", "underride"] {
        assert!(all["global"][kind].is_array(), "global.{kind} in {all}");
        assert!(global[kind].is_array(), "{kind} in {global}");
    }
    assert_eq!(overrides[0]["enabled"], json!(false));
    let underride = all["global"]["underride"].as_array().expect("underride rules");
    assert!(underride.iter().any(|r| r["rule_id"] == ".m.rule.message"));
    // No user rules yet: every rule served is a server default.
    for kind in ["override", "content", "room", "sender", "underride"] {
        let rules = all["global"][kind].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(rules.iter().all(|r| r["default"] == json!(true)), "{kind}: {rules:?}");
    }

    let master = s
        .get("/_matrix/client/v3/pushrules/global/override/.m.rule.master", Some(&alice.token))
        .await
        .ok();
    assert_eq!(master["rule_id"], ".m.rule.master");
    s.get("/_matrix/client/v3/pushrules/", None).await.err(401, "M_MISSING_TOKEN");
}

async fn user_push_rules_can_be_managed(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let t = Some(alice.token.as_str());
    let rule = "/_matrix/client/v3/pushrules/global/room/!quiet:localhost";
    s.put(rule, t, json!({"actions": []})).await.ok();
    let fetched = s.get(rule, t).await.ok();
    assert_eq!(fetched["rule_id"], "!quiet:localhost");
    assert_eq!(fetched["enabled"], json!(true));

    s.put(&format!("{rule}/enabled"), t, json!({"enabled": false})).await.ok();
    assert_eq!(s.get(&format!("{rule}/enabled"), t).await.ok()["enabled"], json!(false));
    s.put(&format!("{rule}/actions"), t, json!({"actions": ["notify"]})).await.ok();
    assert_eq!(s.get(&format!("{rule}/actions"), t).await.ok()["actions"], json!(["notify"]));

    // A keyword rule, placed before another.
    let keyword = "/_matrix/client/v3/pushrules/global/content/lunch";
    s.put(keyword, t, json!({"actions": ["notify"], "pattern": "lunch"})).await.ok();
    let second = "/_matrix/client/v3/pushrules/global/content/dinner";
    s.put(
        &format!("{second}?before=lunch"),
        t,
        json!({"actions": ["notify"], "pattern": "dinner"}),
    )
    .await
    .ok();
    let all = s.get("/_matrix/client/v3/pushrules/", t).await.ok();
    let ids: Vec<&str> = all["global"]["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|r| r["rule_id"].as_str())
        .collect();
    let dinner = ids.iter().position(|id| *id == "dinner").expect("dinner");
    let lunch = ids.iter().position(|id| *id == "lunch").expect("lunch");
    assert!(dinner < lunch, "{ids:?}");

    s.put(&format!("{second}?before=no-such-rule"), t, json!({"actions": [], "pattern": "x"}))
        .await
        .err(404, "M_NOT_FOUND");
    s.put(
        "/_matrix/client/v3/pushrules/global/override/.m.rule.mine",
        t,
        json!({"actions": [], "conditions": []}),
    )
    .await
    .err(400, "M_INVALID_PARAM");

    s.delete(rule, t, None).await.ok();
    s.get(rule, t).await.err(404, "M_NOT_FOUND");
    s.delete("/_matrix/client/v3/pushrules/global/override/.m.rule.master", t, None)
        .await
        .err(400, "M_INVALID_PARAM");
    s.put(
        "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled",
        t,
        json!({"enabled": true}),
    )
    .await
    .ok();
    let master = s.get("/_matrix/client/v3/pushrules/global/override/.m.rule.master", t).await.ok();
    assert_eq!(master["enabled"], json!(true));
}
