//! Spaces: the tree of rooms a space names with `m.space.child`, walked
//! depth-first for a client's GET /hierarchy (rooms this server is not in
//! are asked of the servers the child event names), and the one level this
//! server answers other servers (federation /hierarchy).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use ruma::{
    OwnedRoomId, OwnedServerName, RoomId, ServerName, UserId,
    api::{
        client::space::SpaceHierarchyRoomsChunk,
        federation::space::{SpaceHierarchyParentSummary, get_hierarchy},
    },
    events::room::member::MembershipState,
    room::{JoinRuleSummary, RoomSummary, RoomType},
};

use super::{
    Rooms,
    head::RoomHead,
    summary::{SpaceChild, ordered_children},
};
use crate::error::{Error, Result};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;
/// How deep a walk goes at most, whatever the client asks: trees may be
/// long, and loops are possible though not allowed.
const MAX_DEPTH: usize = 20;

/// A client's GET /hierarchy parameters.
#[derive(Debug, Default)]
pub struct HierarchyQuery {
    pub from: Option<String>,
    pub limit: Option<u64>,
    pub max_depth: Option<u64>,
    pub suggested_only: bool,
}

pub struct HierarchyPage {
    pub rooms: Vec<SpaceHierarchyRoomsChunk>,
    pub next_batch: Option<String>,
}

/// A room as the walk sees it: its summary and the children it names.
#[derive(Debug, Clone)]
pub struct SpaceNode {
    summary: RoomSummary,
    children: Vec<SpaceChild>,
    /// Known from a parent's answer only: a space among them still has to
    /// be asked for its own children.
    partial: bool,
}

impl SpaceNode {
    fn from_head(head: &RoomHead, room_id: &RoomId) -> Self {
        Self {
            summary: head.summary(room_id),
            children: head.space_children(false),
            partial: false,
        }
    }

    fn chunk(&self, suggested_only: bool) -> Result<SpaceHierarchyRoomsChunk> {
        let children_state = ordered_children(self.children.clone(), suggested_only)
            .iter()
            .map(SpaceChild::to_stripped)
            .collect::<Result<_>>()?;
        Ok(SpaceHierarchyRoomsChunk::new(self.summary.clone(), children_state))
    }
}

/// The pagination token: how many rooms earlier pages held, and the
/// parameters that may not change between pages.
fn page_token(skip: usize, query: &HierarchyQuery) -> String {
    let depth = query.max_depth.map_or_else(|| "-".to_owned(), |d| d.to_string());
    format!("{skip}_{depth}_{}", u8::from(query.suggested_only))
}

fn parse_page_token(token: &str, query: &HierarchyQuery) -> Result<usize> {
    let skip = token.split_once('_').and_then(|(skip, _)| skip.parse().ok());
    let skip: usize = skip.ok_or_else(|| Error::invalid_param("unknown from token"))?;
    if page_token(skip, query) != token {
        return Err(Error::invalid_param(
            "suggested_only and max_depth cannot change on paginated requests",
        ));
    }
    Ok(skip)
}

/// Whether a user may see a room in a hierarchy: they are in it or
/// invited, or could join, knock or read it without an invite.
pub(super) fn user_may_see(
    summary: &RoomSummary,
    membership: Option<MembershipState>,
    joined: &HashSet<OwnedRoomId>,
) -> bool {
    match membership {
        Some(MembershipState::Join | MembershipState::Invite) => return true,
        Some(MembershipState::Ban) => return false,
        _ => {}
    }
    summary.world_readable
        || match &summary.join_rule {
            JoinRuleSummary::Public
            | JoinRuleSummary::Knock
            | JoinRuleSummary::KnockRestricted(_) => true,
            JoinRuleSummary::Restricted(rule) => {
                rule.allowed_room_ids.iter().any(|room| joined.contains(room))
            }
            _ => false,
        }
}

impl Rooms {
    /// GET /hierarchy: the rooms under a space the user may see, depth
    /// first, a page at a time.
    pub async fn hierarchy(
        &self,
        user_id: &UserId,
        root: &RoomId,
        query: HierarchyQuery,
    ) -> Result<HierarchyPage> {
        let limit = match query.limit {
            Some(0) => return Err(Error::invalid_param("limit must be greater than zero")),
            Some(limit) => (limit as usize).min(MAX_LIMIT),
            None => DEFAULT_LIMIT,
        };
        let max_depth = query.max_depth.map_or(MAX_DEPTH, |d| (d as usize).min(MAX_DEPTH));
        let skip = match &query.from {
            Some(token) => parse_page_token(token, &query)?,
            None => 0,
        };
        let joined: HashSet<OwnedRoomId> = self.joined_rooms(user_id).await?.into_iter().collect();
        let mut fetched = HashMap::new();
        let mut stack: Vec<(OwnedRoomId, Vec<OwnedServerName>, usize)> =
            vec![(root.to_owned(), Vec::new(), 0)];
        let mut seen = HashSet::new();
        let (mut rooms, mut shown, mut next_batch) = (Vec::new(), 0, None);
        while let Some((room_id, via, depth)) = stack.pop() {
            if !seen.insert(room_id.clone()) {
                continue;
            }
            let node = self.space_node(&room_id, &via, query.suggested_only, &mut fetched).await?;
            let membership = self.membership_if_known(&room_id, user_id).await?;
            let visible = node.as_ref().filter(|n| user_may_see(&n.summary, membership, &joined));
            let Some(node) = visible else {
                if room_id == root {
                    return Err(Error::forbidden("you are not allowed to view this room"));
                }
                continue;
            };
            if shown >= skip {
                if rooms.len() == limit {
                    next_batch = Some(page_token(shown, &query));
                    break;
                }
                rooms.push(node.chunk(query.suggested_only)?);
            }
            shown += 1;
            if depth < max_depth {
                let children = ordered_children(node.children.clone(), query.suggested_only);
                for child in children.into_iter().rev() {
                    stack.push((child.room_id, child.via, depth + 1));
                }
            }
        }
        Ok(HierarchyPage { rooms, next_batch })
    }

    pub(super) async fn membership_if_known(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<MembershipState>> {
        if self.store().room_version(room_id.as_str()).await?.is_none() {
            return Ok(None);
        }
        self.with_head(room_id, |head| head.membership(user_id)).await
    }

    /// A room of the tree: from its head when this server is in it, else
    /// from the servers `via` names (what they answered is kept a while),
    /// else from what we last knew of it. None for a room nobody describes.
    async fn space_node(
        &self,
        room_id: &RoomId,
        via: &[OwnedServerName],
        suggested_only: bool,
        fetched: &mut HashMap<OwnedRoomId, SpaceNode>,
    ) -> Result<Option<SpaceNode>> {
        let own = &self.inner.config.server.server_name;
        let known = self.store().room_version(room_id.as_str()).await?.is_some();
        let local = match known {
            true => Some(
                self.with_head(room_id, |head| {
                    (SpaceNode::from_head(head, room_id), head.servers().contains(own))
                })
                .await?,
            ),
            false => None,
        };
        if let Some((node, true)) = local {
            return Ok(Some(node));
        }
        let partial = fetched.get(room_id).cloned();
        let is_space = |node: &SpaceNode| node.summary.room_type == Some(RoomType::Space);
        if let Some(node) = &partial
            && !(node.partial && is_space(node))
        {
            return Ok(partial);
        }
        if let Some(answer) = self.remote_space(room_id, via, suggested_only).await {
            let children = answer.room.children_state.iter().filter_map(SpaceChild::from_stripped);
            let node = SpaceNode {
                summary: answer.room.summary.clone(),
                children: children.collect(),
                partial: false,
            };
            for child in &answer.children {
                let partial =
                    SpaceNode { summary: child.clone(), children: Vec::new(), partial: true };
                fetched.entry(child.room_id.clone()).or_insert(partial);
            }
            fetched.insert(room_id.to_owned(), node.clone());
            return Ok(Some(node));
        }
        Ok(partial.or(local.map(|(node, _)| node)))
    }

    /// Another server's answer for a room of a space, asked of the servers
    /// the child event names in turn; answers are kept a few minutes, as
    /// the spec asks.
    pub(super) async fn remote_space(
        &self,
        room_id: &RoomId,
        via: &[OwnedServerName],
        suggested_only: bool,
    ) -> Option<Arc<get_hierarchy::v1::Response>> {
        let key = (room_id.to_owned(), suggested_only);
        if let Some(answer) = self.inner.remote_spaces.get(&key) {
            return Some(answer);
        }
        if !self.inner.federation.enabled() {
            return None;
        }
        let own = &self.inner.config.server.server_name;
        for server in via.iter().filter(|server| *server != own) {
            let mut request = get_hierarchy::v1::Request::new(room_id.to_owned());
            request.suggested_only = suggested_only;
            match self.inner.federation.send(server, request).await {
                Ok(answer) if answer.room.summary.room_id == room_id => {
                    let answer = Arc::new(answer);
                    self.inner.remote_spaces.insert(key, answer.clone());
                    return Some(answer);
                }
                Ok(_) => tracing::info!(%server, %room_id, "hierarchy answered for another room"),
                Err(error) => tracing::info!(%server, %room_id, %error, "hierarchy not answered"),
            }
        }
        None
    }

    /// Federation GET /hierarchy: a room of this server's and its children
    /// that `origin` could peek into or join; the rest are named as
    /// inaccessible, rooms we are not in are left out.
    pub async fn federated_hierarchy(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        suggested_only: bool,
    ) -> Result<get_hierarchy::v1::Response> {
        let (node, children) = match self.resident_summary(origin, room_id).await? {
            Some((node, true)) => {
                let children = ordered_children(node.children.clone(), suggested_only);
                (node, children)
            }
            _ => return Err(Error::not_found("no such room, or not one your server may see")),
        };
        let children_state = children.iter().map(SpaceChild::to_stripped).collect::<Result<_>>()?;
        let mut answer = get_hierarchy::v1::Response::new(SpaceHierarchyParentSummary::new(
            node.summary,
            children_state,
        ));
        for child in children {
            match self.resident_summary(origin, &child.room_id).await? {
                Some((node, true)) => answer.children.push(node.summary),
                Some((_, false)) => answer.inaccessible_children.push(child.room_id),
                None => {}
            }
        }
        Ok(answer)
    }

    /// A room this server is in, with whether `origin` may see it: its
    /// users are in it or invited, or anyone could join, knock or read it,
    /// or it admits members of a room `origin` is in.
    async fn resident_summary(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
    ) -> Result<Option<(SpaceNode, bool)>> {
        if self.store().room_version(room_id.as_str()).await?.is_none() {
            return Ok(None);
        }
        let own = &self.inner.config.server.server_name;
        let (node, resident, acl, open, allowed) = self
            .with_head(room_id, |head| {
                let node = SpaceNode::from_head(head, room_id);
                let present = head
                    .members_with(&[MembershipState::Join, MembershipState::Invite])
                    .iter()
                    .any(|user| user.server_name() == origin);
                let open = present || user_may_see(&node.summary, None, &HashSet::new());
                let allowed = head.allowed_rooms().unwrap_or_default();
                (node, head.servers().contains(own), head.server_allowed(origin), open, allowed)
            })
            .await?;
        if !resident {
            return Ok(None);
        }
        if !acl {
            return Ok(Some((node, false)));
        }
        let mut visible = open;
        for allowed_room in &allowed {
            if visible {
                break;
            }
            if self.store().room_version(allowed_room.as_str()).await?.is_some() {
                visible = self
                    .with_head(allowed_room, |head| head.servers().iter().any(|s| s == origin))
                    .await?;
            }
        }
        Ok(Some((node, visible)))
    }
}
