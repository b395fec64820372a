//! Whose devices a user must look at again: users whose keys changed and
//! who share a room with them, users they newly share a room with, and
//! users they no longer share any room with (`left`).

use std::collections::{BTreeSet, HashSet};

use ruma::{OwnedUserId, UserId};

use super::Keys;
use crate::{error::Result, services::notifier::Positions};

/// Users to re-query, and users no longer tracked.
#[derive(Debug, Default)]
pub struct DeviceListChanges {
    pub changed: Vec<OwnedUserId>,
    pub left: Vec<OwnedUserId>,
}

impl DeviceListChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.left.is_empty()
    }
}

impl Keys {
    /// What changed for `user` between two sync positions.
    pub async fn device_list_changes(
        &self,
        user: &UserId,
        since: Positions,
        now: Positions,
    ) -> Result<DeviceListChanges> {
        let me = user.as_str();
        let keys_moved = since.device_lists < now.device_lists;
        let members_moved = since.events < now.events;
        if !keys_moved && !members_moved {
            return Ok(DeviceListChanges::default());
        }
        // Cheap reads first: most syncs of a busy room see no membership
        // and no key change, and then the costly "who shares a room with
        // me" query is never made.
        let key_changes = match keys_moved {
            true => self.store.device_list_changes(since.device_lists, now.device_lists).await?,
            false => Vec::new(),
        };
        let member_changes = match members_moved {
            true => self.store.member_changes(since.events, now.events).await?,
            false => Vec::new(),
        };
        if key_changes.is_empty() && member_changes.is_empty() {
            return Ok(DeviceListChanges::default());
        }
        let sharing: HashSet<OwnedUserId> =
            self.store.users_sharing_rooms(me).await?.into_iter().collect();
        let mut changed = BTreeSet::new();
        let mut left = BTreeSet::new();
        for other in key_changes {
            if other == user || sharing.contains(&other) {
                changed.insert(other);
            }
        }
        if !member_changes.is_empty() {
            // Rooms the user is in, or whose membership the user changed.
            let mut my_rooms: HashSet<String> = self
                .store
                .memberships(me)
                .await?
                .into_iter()
                .filter(|(_, membership)| membership == "join")
                .map(|(room, _)| room)
                .collect();
            let mut rejoined = Vec::new();
            for (who, room) in &member_changes {
                if who == me {
                    my_rooms.insert(room.clone());
                    rejoined.push(room.clone());
                }
            }
            let mut candidates = HashSet::new();
            for (who, room) in member_changes {
                if who != me
                    && my_rooms.contains(&room)
                    && let Ok(who) = UserId::parse(who)
                {
                    candidates.insert(who);
                }
            }
            // Everyone in a room the user just joined is new to them.
            for room in rejoined {
                candidates.extend(self.store.room_joined_users(&room).await?);
            }
            for other in candidates {
                if other == user {
                    continue;
                }
                if sharing.contains(&other) {
                    changed.insert(other);
                } else {
                    left.insert(other);
                }
            }
        }
        Ok(DeviceListChanges {
            changed: changed.into_iter().collect(),
            left: left.into_iter().collect(),
        })
    }
}
