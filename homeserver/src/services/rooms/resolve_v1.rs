//! State resolution of room version 1 (the spec's rooms/v1 algorithm; ruma
//! implements only v2). Later versions replaced it because it can reset
//! state, but the rooms that use it still exist and must agree with the
//! other servers in them.

use std::{cmp::Ordering, collections::HashMap, sync::Arc};

use ruma::{
    events::StateEventType, room_version_rules::AuthorizationRules,
    state_res::check_state_dependent_auth_rules,
};
use sha1::{Digest, Sha1};

use super::{head::StateKey, pdu::Pdu, resolve::StateMap};

/// Resolves several states of a version 1 room into one.
pub(super) fn resolve_v1(rules: &AuthorizationRules, maps: &[StateMap]) -> StateMap {
    let (mut resolved, conflicted) = split_conflicts(maps);
    let mut conflicted: Vec<(StateKey, Vec<Arc<Pdu>>)> = conflicted.into_iter().collect();
    conflicted.sort_by(|a, b| a.0.cmp(&b.0));

    // The events that decide what is allowed first, in this order; each
    // conflict is settled before the next is looked at.
    for kind in
        [StateEventType::RoomPowerLevels, StateEventType::RoomJoinRules, StateEventType::RoomMember]
    {
        for (key, events) in conflicted.iter().filter(|(key, _)| key.0 == kind) {
            let winner = resolve_authorizing(rules, &mut resolved, key, events.clone());
            resolved.insert(key.clone(), winner);
        }
    }
    for (key, events) in &conflicted {
        if !matches!(
            key.0,
            StateEventType::RoomPowerLevels
                | StateEventType::RoomJoinRules
                | StateEventType::RoomMember
        ) {
            let winner = resolve_other(rules, &resolved, events.clone());
            resolved.insert(key.clone(), winner);
        }
    }
    resolved
}

/// The union of the states without conflicts, and the events competing
/// for each conflicted key (a key missing from some states is no conflict).
fn split_conflicts(maps: &[StateMap]) -> (StateMap, HashMap<StateKey, Vec<Arc<Pdu>>>) {
    let mut agreed = StateMap::new();
    let mut conflicted: HashMap<StateKey, Vec<Arc<Pdu>>> = HashMap::new();
    for map in maps {
        for (key, pdu) in map {
            if let Some(competing) = conflicted.get_mut(key) {
                if !competing.iter().any(|p| p.event_id == pdu.event_id) {
                    competing.push(pdu.clone());
                }
                continue;
            }
            match agreed.get(key) {
                Some(known) if known.event_id != pdu.event_id => {
                    let known = agreed.remove(key).expect("present");
                    conflicted.insert(key.clone(), vec![known, pdu.clone()]);
                }
                Some(_) => {}
                None => {
                    agreed.insert(key.clone(), pdu.clone());
                }
            }
        }
    }
    (agreed, conflicted)
}

/// Power levels, join rules and memberships: from the shallowest event
/// (ties: the greatest SHA-1 of the id) on, each next event replaces the
/// last while the rules allow it in the state so far.
fn resolve_authorizing(
    rules: &AuthorizationRules,
    state: &mut StateMap,
    key: &StateKey,
    mut events: Vec<Arc<Pdu>>,
) -> Arc<Pdu> {
    events.sort_by(|a, b| u64::from(a.depth).cmp(&u64::from(b.depth)).then(sha1_order(b, a)));
    let mut events = events.into_iter();
    let mut winner = events.next().expect("a conflict has events");
    for event in events {
        state.insert(key.clone(), winner.clone());
        if !allowed(rules, state, &event) {
            break;
        }
        winner = event;
    }
    winner
}

/// Any other event: the deepest (ties: the smallest SHA-1 of the id) that
/// the rules allow in the resolved state; if none is, the last tried (as
/// Synapse, the reference for these rooms, does).
fn resolve_other(
    rules: &AuthorizationRules,
    state: &StateMap,
    mut events: Vec<Arc<Pdu>>,
) -> Arc<Pdu> {
    events.sort_by(|a, b| u64::from(b.depth).cmp(&u64::from(a.depth)).then(sha1_order(a, b)));
    let last = events.last().cloned().expect("a conflict has events");
    events.into_iter().find(|event| allowed(rules, state, event)).unwrap_or(last)
}

fn sha1_order(a: &Pdu, b: &Pdu) -> Ordering {
    Sha1::digest(a.event_id.as_bytes()).cmp(&Sha1::digest(b.event_id.as_bytes()))
}

fn allowed(rules: &AuthorizationRules, state: &StateMap, event: &Pdu) -> bool {
    check_state_dependent_auth_rules(rules, event, |kind: &StateEventType, key: &str| {
        state.get(&(kind.clone(), key.to_owned())).map(|pdu| pdu.as_ref())
    })
    .is_ok()
}

#[cfg(test)]
mod tests {
    use ruma::{CanonicalJsonObject, EventId, RoomId, room_version_rules::RoomVersionRules};
    use serde_json::json;

    use super::*;

    const ROOM: &str = "!fork:a.test";

    /// A state event of the test room (signatures play no part here).
    fn event(
        id: &str,
        kind: &str,
        key: &str,
        sender: &str,
        depth: u64,
        content: serde_json::Value,
    ) -> Arc<Pdu> {
        let json = json!({
            "event_id": id, "room_id": ROOM, "type": kind, "state_key": key, "sender": sender,
            "content": content, "depth": depth, "origin_server_ts": depth,
            "prev_events": [], "auth_events": [],
        });
        let object: CanonicalJsonObject = serde_json::from_value(json).expect("canonical");
        let id = EventId::parse(id).expect("id");
        Arc::new(Pdu::from_json(id, RoomId::parse(ROOM).expect("room"), object).expect("pdu"))
    }

    fn levels(carol: i64) -> serde_json::Value {
        json!({"users": {"@alice:a.test": 100, "@carol:c.test": carol}, "ban": 50, "state_default": 50})
    }

    fn state(events: &[&Arc<Pdu>]) -> StateMap {
        events
            .iter()
            .map(|pdu| {
                (
                    (pdu.kind.to_string().into(), pdu.state_key.clone().unwrap_or_default()),
                    (*pdu).clone(),
                )
            })
            .collect()
    }

    fn id_of(map: &StateMap, kind: StateEventType, key: &str) -> String {
        map[&(kind, key.to_owned())].event_id.to_string()
    }

    fn member(id: &str, user: &str, by: &str, depth: u64, membership: &str) -> Arc<Pdu> {
        event(id, "m.room.member", user, by, depth, json!({"membership": membership}))
    }

    /// A public room of alice's (depths 1 to 5), carol joined at `carol`'s
    /// power level.
    fn room(carol: i64) -> Vec<Arc<Pdu>> {
        let by = "@alice:a.test";
        vec![
            event("$create:a.test", "m.room.create", "", by, 1, json!({"creator": by})),
            member("$alice:a.test", by, by, 2, "join"),
            event("$power:a.test", "m.room.power_levels", "", by, 3, levels(carol)),
            event("$rules:a.test", "m.room.join_rules", "", by, 4, json!({"join_rule": "public"})),
            member("$carol:c.test", "@carol:c.test", "@carol:c.test", 5, "join"),
        ]
    }

    /// The room's state with `power` as its power levels, plus `more`.
    fn state_with(room: &[Arc<Pdu>], power: &Arc<Pdu>, more: &[&Arc<Pdu>]) -> StateMap {
        let mut events: Vec<&Arc<Pdu>> =
            room.iter().filter(|p| p.kind.to_string() != "m.room.power_levels").collect();
        events.push(power);
        events.extend_from_slice(more);
        state(&events)
    }

    /// alice lowers carol's power while carol bans dave: the power change
    /// is settled first, and the ban it forbids loses — whichever order
    /// the states come in.
    #[test]
    fn the_power_change_outranks_the_ban_it_forbids() {
        let rules = RoomVersionRules::V1.authorization;
        let room = room(50);
        let dave = member("$dave:a.test", "@dave:a.test", "@dave:a.test", 6, "join");
        let lowered =
            event("$lowered:a.test", "m.room.power_levels", "", "@alice:a.test", 7, levels(0));
        let ban = member("$ban:c.test", "@dave:a.test", "@carol:c.test", 8, "ban");

        let with_lowered = state_with(&room, &lowered, &[&dave]);
        let with_ban = state_with(&room, &room[2], &[&ban]);
        for maps in [[with_lowered.clone(), with_ban.clone()], [with_ban, with_lowered]] {
            let resolved = resolve_v1(&rules, &maps);
            assert_eq!(id_of(&resolved, StateEventType::RoomPowerLevels, ""), "$lowered:a.test");
            assert_eq!(
                id_of(&resolved, StateEventType::RoomMember, "@dave:a.test"),
                "$dave:a.test"
            );
            assert_eq!(id_of(&resolved, StateEventType::RoomJoinRules, ""), "$rules:a.test");
        }
    }

    /// Other events: the deepest one the resolved state allows.
    #[test]
    fn the_deepest_allowed_topic_wins() {
        let rules = RoomVersionRules::V1.authorization;
        let room = room(0);
        let topic = |id: &str, by: &str, depth: u64| {
            event(id, "m.room.topic", "", by, depth, json!({"topic": id}))
        };
        let topics = [
            topic("$t1:a.test", "@alice:a.test", 6),
            topic("$t2:a.test", "@alice:a.test", 7),
            topic("$t3:c.test", "@carol:c.test", 8),
        ];
        let maps: Vec<StateMap> =
            topics.iter().map(|t| state_with(&room, &room[2], &[t])).collect();
        let resolved = resolve_v1(&rules, &maps);
        assert_eq!(id_of(&resolved, StateEventType::RoomTopic, ""), "$t2:a.test");
    }
}
