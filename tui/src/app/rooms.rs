//! The room list: invitations, direct chats, rooms, then each space with
//! its rooms; each section by latest activity, narrowed by what the user
//! types while the list has focus.

use lattice_sdk::ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId};

/// How a room appears in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomEntry {
    pub room_id: OwnedRoomId,
    pub name: String,
    pub kind: Kind,
    /// The room's main address (`#name:server`), for Tab completion.
    pub alias: Option<String>,
    /// For a space: the rooms it lists.
    pub children: Vec<OwnedRoomId>,
    pub encrypted: bool,
    /// Messages since the user last read the room, and how many of them
    /// mention them (the server's counts).
    pub unread: u64,
    pub highlights: u64,
    pub last_activity: Option<MilliSecondsSinceUnixEpoch>,
}

/// What a room is to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invite,
    Direct,
    Room,
    Space,
}

impl Kind {
    /// The mark before the room's name.
    pub fn sigil(self) -> &'static str {
        match self {
            Kind::Invite => "+",
            Kind::Direct => "@",
            Kind::Room => "#",
            Kind::Space => "◆",
        }
    }
}

/// The list's sections, in the order shown: a space's section holds the
/// space and the joined rooms it lists, after the rooms of no space.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Invites,
    Direct,
    Rooms,
    Space { name: String, id: OwnedRoomId },
}

impl Group {
    /// The section's heading.
    pub fn title(&self) -> &str {
        match self {
            Group::Invites => "Invites",
            Group::Direct => "People",
            Group::Rooms => "Rooms",
            Group::Space { name, .. } => name,
        }
    }
}

/// A room and the section it is shown in (which depends on the spaces).
#[derive(Debug)]
struct Listed {
    group: Group,
    entry: RoomEntry,
}

/// The rooms, kept sorted, and the user's place in them.
#[derive(Debug, Default)]
pub struct RoomList {
    entries: Vec<Listed>,
    /// Narrows the list to names containing it (case-insensitive).
    pub filter: String,
    /// The room whose timeline is open.
    pub open: Option<OwnedRoomId>,
}

impl RoomList {
    /// Adds a room or updates it, keeping the order.
    pub fn upsert(&mut self, entry: RoomEntry) {
        match self.entries.iter_mut().find(|e| e.entry.room_id == entry.room_id) {
            Some(existing) => {
                let last_activity = entry.last_activity.or(existing.entry.last_activity);
                existing.entry = RoomEntry { last_activity, ..entry };
            }
            None => self.entries.push(Listed { group: Group::Rooms, entry }),
        }
        self.regroup();
    }

    /// Drops a room the user left.
    pub fn remove(&mut self, room_id: &OwnedRoomId) {
        self.entries.retain(|e| &e.entry.room_id != room_id);
        if self.open.as_ref() == Some(room_id) {
            self.open = None;
        }
        self.regroup();
    }

    /// A room's entry.
    pub fn get_mut(&mut self, room_id: &OwnedRoomId) -> Option<&mut RoomEntry> {
        self.entries.iter_mut().map(|e| &mut e.entry).find(|e| &e.room_id == room_id)
    }

    /// A room's entry.
    pub fn get(&self, room_id: &OwnedRoomId) -> Option<&RoomEntry> {
        self.entries.iter().map(|e| &e.entry).find(|e| &e.room_id == room_id)
    }

    /// Every room, in order.
    pub fn all(&self) -> impl Iterator<Item = &RoomEntry> {
        self.entries.iter().map(|e| &e.entry)
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

    /// The rooms shown (the filter applied, on names and addresses), in
    /// order, each with its section.
    pub fn visible(&self) -> Vec<(&Group, &RoomEntry)> {
        let filter = self.filter.to_lowercase();
        let shown = |e: &RoomEntry| {
            e.name.to_lowercase().contains(&filter)
                || e.alias.as_ref().is_some_and(|a| a.to_lowercase().contains(&filter))
        };
        self.entries.iter().filter(|e| shown(&e.entry)).map(|e| (&e.group, &e.entry)).collect()
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
        let visible: Vec<OwnedRoomId> =
            self.visible().iter().map(|(_, e)| e.room_id.clone()).collect();
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

    /// Puts each room in its section: a joined room listed by a space the
    /// user is in goes under that space (the first by name when several
    /// list it); direct chats stay with the people.
    fn regroup(&mut self) {
        let mut spaces: Vec<(&str, &OwnedRoomId, &[OwnedRoomId])> = self
            .entries
            .iter()
            .filter(|e| e.entry.kind == Kind::Space)
            .map(|e| (e.entry.name.as_str(), &e.entry.room_id, e.entry.children.as_slice()))
            .collect();
        spaces.sort();
        let space_of = |room_id: &OwnedRoomId| {
            spaces
                .iter()
                .find(|(_, _, children)| children.contains(room_id))
                .map(|(name, id, _)| Group::Space { name: (*name).to_owned(), id: (*id).clone() })
        };
        let groups: Vec<Group> = self
            .entries
            .iter()
            .map(|Listed { entry, .. }| match entry.kind {
                Kind::Invite => Group::Invites,
                Kind::Direct => Group::Direct,
                Kind::Space => Group::Space { name: entry.name.clone(), id: entry.room_id.clone() },
                Kind::Room => space_of(&entry.room_id).unwrap_or(Group::Rooms),
            })
            .collect();
        for (listed, group) in self.entries.iter_mut().zip(groups) {
            listed.group = group;
        }
        self.sort();
    }

    /// By section; a space first in its own; then latest activity first.
    fn sort(&mut self) {
        self.entries.sort_by(|a, b| {
            a.group
                .cmp(&b.group)
                .then_with(|| (b.entry.kind == Kind::Space).cmp(&(a.entry.kind == Kind::Space)))
                .then_with(|| b.entry.last_activity.cmp(&a.entry.last_activity))
                .then_with(|| a.entry.name.to_lowercase().cmp(&b.entry.name.to_lowercase()))
        });
    }
}

#[cfg(test)]
mod tests {
    use lattice_sdk::ruma::{UInt, owned_room_id};

    use super::*;

    fn entry(id: &str, name: &str, kind: Kind, at: u64) -> RoomEntry {
        RoomEntry {
            room_id: OwnedRoomId::try_from(id).expect("room id"),
            name: name.to_owned(),
            kind,
            alias: None,
            children: Vec::new(),
            encrypted: false,
            unread: 0,
            highlights: 0,
            last_activity: Some(MilliSecondsSinceUnixEpoch(UInt::from(at as u32))),
        }
    }

    fn names(list: &RoomList) -> Vec<String> {
        list.visible().iter().map(|(_, e)| e.name.clone()).collect()
    }

    #[test]
    fn groups_then_recency_then_filter() {
        let mut list = RoomList::default();
        list.upsert(entry("!a:x", "Alpha", Kind::Room, 10));
        list.upsert(entry("!b:x", "Bob", Kind::Direct, 5));
        list.upsert(entry("!c:x", "Chess", Kind::Room, 20));
        list.upsert(entry("!d:x", "Dance club", Kind::Invite, 1));
        assert_eq!(names(&list), ["Dance club", "Bob", "Chess", "Alpha"]);
        list.touch(&owned_room_id!("!a:x"), MilliSecondsSinceUnixEpoch(UInt::from(30u32)));
        assert_eq!(names(&list), ["Dance club", "Bob", "Alpha", "Chess"]);
        list.filter = "CH".into();
        assert_eq!(names(&list), ["Chess"]);
        list.move_selection(1);
        assert_eq!(list.open, Some(owned_room_id!("!c:x")));
    }

    #[test]
    fn a_space_gathers_its_rooms_under_its_name() {
        let mut list = RoomList::default();
        list.upsert(entry("!a:x", "Alpha", Kind::Room, 10));
        list.upsert(entry("!c:x", "Chess", Kind::Room, 20));
        list.upsert(entry("!b:x", "Bob", Kind::Direct, 5));
        // The space arrives after its rooms, and lists a DM too: that one
        // stays with the people.
        let mut games = entry("!g:x", "Games", Kind::Space, 1);
        games.children = vec![owned_room_id!("!c:x"), owned_room_id!("!b:x")];
        list.upsert(games.clone());
        let sections: Vec<(String, String)> = list
            .visible()
            .iter()
            .map(|(group, e)| (group.title().to_owned(), e.name.clone()))
            .collect();
        let expected =
            [("People", "Bob"), ("Rooms", "Alpha"), ("Games", "Games"), ("Games", "Chess")];
        assert_eq!(sections, expected.map(|(g, n)| (g.to_owned(), n.to_owned())));

        // Taken out of the space, the room goes back to the rooms; a space
        // the user leaves lets go of its rooms too.
        games.children = Vec::new();
        list.upsert(games.clone());
        assert_eq!(names(&list), ["Bob", "Chess", "Alpha", "Games"]);
        games.children = vec![owned_room_id!("!a:x")];
        list.upsert(games);
        assert_eq!(names(&list), ["Bob", "Chess", "Games", "Alpha"]);
        list.remove(&owned_room_id!("!g:x"));
        assert_eq!(names(&list), ["Bob", "Chess", "Alpha"]);
    }
}
