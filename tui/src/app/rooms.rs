//! The room list: invitations, direct chats and rooms, each group by latest
//! activity, narrowed by what the user types while the list has focus.

use lattice_sdk::ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId};

/// How a room appears in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomEntry {
    pub room_id: OwnedRoomId,
    pub name: String,
    pub group: Group,
    pub encrypted: bool,
    /// Messages since the user last read the room, and how many of them
    /// mention them (the server's counts).
    pub unread: u64,
    pub highlights: u64,
    pub last_activity: Option<MilliSecondsSinceUnixEpoch>,
}

/// The list's sections, in the order shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Invites,
    Direct,
    Rooms,
}

impl Group {
    /// The section's heading.
    pub fn title(self) -> &'static str {
        match self {
            Group::Invites => "Invites",
            Group::Direct => "People",
            Group::Rooms => "Rooms",
        }
    }
}

/// The rooms, kept sorted, and the user's place in them.
#[derive(Debug, Default)]
pub struct RoomList {
    entries: Vec<RoomEntry>,
    /// Narrows the list to names containing it (case-insensitive).
    pub filter: String,
    /// The room whose timeline is open.
    pub open: Option<OwnedRoomId>,
}

impl RoomList {
    /// Adds a room or updates it, keeping the order.
    pub fn upsert(&mut self, entry: RoomEntry) {
        match self.entries.iter_mut().find(|e| e.room_id == entry.room_id) {
            Some(existing) => {
                let last_activity = entry.last_activity.or(existing.last_activity);
                *existing = RoomEntry { last_activity, ..entry };
            }
            None => self.entries.push(entry),
        }
        self.sort();
    }

    /// Drops a room the user left.
    pub fn remove(&mut self, room_id: &OwnedRoomId) {
        self.entries.retain(|e| &e.room_id != room_id);
        if self.open.as_ref() == Some(room_id) {
            self.open = None;
        }
    }

    /// A room's entry.
    pub fn get_mut(&mut self, room_id: &OwnedRoomId) -> Option<&mut RoomEntry> {
        self.entries.iter_mut().find(|e| &e.room_id == room_id)
    }

    /// A room's entry.
    pub fn get(&self, room_id: &OwnedRoomId) -> Option<&RoomEntry> {
        self.entries.iter().find(|e| &e.room_id == room_id)
    }

    /// Newer activity moves a room up its group.
    pub fn touch(&mut self, room_id: &OwnedRoomId, at: MilliSecondsSinceUnixEpoch) {
        if let Some(entry) = self.get_mut(room_id)
            && entry.last_activity.is_none_or(|last| last < at)
        {
            entry.last_activity = Some(at);
            self.sort();
        }
    }

    /// The rooms shown (the filter applied), in order.
    pub fn visible(&self) -> Vec<&RoomEntry> {
        let filter = self.filter.to_lowercase();
        self.entries.iter().filter(|e| e.name.to_lowercase().contains(&filter)).collect()
    }

    /// How many rooms there are in all.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no room at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Opens the room `step` places above (negative) or below the open one
    /// among the visible ones; the first one when none is open.
    pub fn move_selection(&mut self, step: isize) {
        let visible: Vec<OwnedRoomId> = self.visible().iter().map(|e| e.room_id.clone()).collect();
        if visible.is_empty() {
            return;
        }
        let at = self.open.as_ref().and_then(|open| visible.iter().position(|id| id == open));
        let next = match at {
            Some(at) => at.saturating_add_signed(step).min(visible.len() - 1),
            None => 0,
        };
        self.open = Some(visible[next].clone());
    }

    fn sort(&mut self) {
        self.entries.sort_by(|a, b| {
            a.group
                .cmp(&b.group)
                .then_with(|| b.last_activity.cmp(&a.last_activity))
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
    }
}

#[cfg(test)]
mod tests {
    use lattice_sdk::ruma::{UInt, owned_room_id};

    use super::*;

    fn entry(id: &str, name: &str, group: Group, at: u64) -> RoomEntry {
        RoomEntry {
            room_id: OwnedRoomId::try_from(id).expect("room id"),
            name: name.to_owned(),
            group,
            encrypted: false,
            unread: 0,
            highlights: 0,
            last_activity: Some(MilliSecondsSinceUnixEpoch(UInt::from(at as u32))),
        }
    }

    #[test]
    fn groups_then_recency_then_filter() {
        let mut list = RoomList::default();
        list.upsert(entry("!a:x", "Alpha", Group::Rooms, 10));
        list.upsert(entry("!b:x", "Bob", Group::Direct, 5));
        list.upsert(entry("!c:x", "Chess", Group::Rooms, 20));
        list.upsert(entry("!d:x", "Dance club", Group::Invites, 1));
        let names =
            |list: &RoomList| list.visible().iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&list), ["Dance club", "Bob", "Chess", "Alpha"]);
        list.touch(&owned_room_id!("!a:x"), MilliSecondsSinceUnixEpoch(UInt::from(30u32)));
        assert_eq!(names(&list), ["Dance club", "Bob", "Alpha", "Chess"]);
        list.filter = "CH".into();
        assert_eq!(names(&list), ["Chess"]);
        list.move_selection(1);
        assert_eq!(list.open, Some(owned_room_id!("!c:x")));
    }
}
