//! Room aliases and the public room directory.

use ruma::api::federation::directory::get_public_rooms_filtered;
use ruma::{
    OwnedRoomAliasId, OwnedRoomId, RoomAliasId, RoomId, UserId, directory::RoomNetwork,
    events::room::member::MembershipState,
};

use super::Rooms;
use crate::error::{Error, Result};

impl Rooms {
    /// PUT /directory/room/{alias}: joined members may add local aliases.
    pub async fn create_alias(
        &self,
        user_id: &UserId,
        alias: &RoomAliasId,
        room_id: &RoomId,
    ) -> Result<()> {
        if alias.server_name() != self.inner.config.server.server_name {
            return Err(Error::invalid_param("aliases must be on this server"));
        }
        self.check_alias_allowed(user_id, alias)?;
        let membership = self.with_head(room_id, |head| head.membership(user_id)).await?;
        if membership != Some(MembershipState::Join) {
            return Err(Error::forbidden("you are not in this room"));
        }
        if !self.store().create_alias(alias.as_str(), room_id.as_str(), user_id.as_str()).await? {
            return Err(Error::Conflict("room alias already exists".into()));
        }
        Ok(())
    }

    /// An alias in an application service's exclusive namespace is the
    /// service's alone (its users may take it, others not).
    pub(super) fn check_alias_allowed(&self, user_id: &UserId, alias: &RoomAliasId) -> Result<()> {
        match self.inner.appservices.alias_kept_from(alias, user_id) {
            true => Err(Error::Exclusive("this alias is kept by an application service".into())),
            false => Ok(()),
        }
    }

    /// DELETE /directory/room/{alias}: its creator, or a room moderator.
    pub async fn delete_alias(&self, user_id: &UserId, alias: &RoomAliasId) -> Result<()> {
        let (room_id, creator) = self
            .store()
            .alias(alias.as_str())
            .await?
            .ok_or_else(|| Error::not_found("unknown alias"))?;
        if creator != user_id.as_str() {
            let room_id = RoomId::parse(&room_id).map_err(Error::internal)?;
            let allowed = self
                .with_head(&room_id, |head| {
                    head.power_of(user_id) >= head.state_power("m.room.canonical_alias")
                })
                .await?;
            if !allowed {
                return Err(Error::forbidden("you may not remove this alias"));
            }
        }
        self.store().delete_alias(alias.as_str()).await
    }

    /// GET /rooms/{id}/aliases, for members.
    pub async fn aliases(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Vec<OwnedRoomAliasId>> {
        let membership = self.with_head(room_id, |head| head.membership(user_id)).await?;
        if membership != Some(MembershipState::Join) {
            return Err(Error::forbidden("you are not in this room"));
        }
        Ok(self
            .store()
            .room_aliases(room_id.as_str())
            .await?
            .into_iter()
            .filter_map(|a| OwnedRoomAliasId::try_from(a).ok())
            .collect())
    }

    pub async fn is_published(&self, room_id: &RoomId) -> Result<bool> {
        self.with_head(room_id, |_| ()).await?;
        self.store().is_room_public(room_id.as_str()).await
    }

    /// PUT /directory/list/room/{id}: for those who may set the canonical
    /// alias, and not in a room an application service keeps to itself.
    pub async fn publish(&self, room_id: &RoomId, user_id: &UserId, public: bool) -> Result<()> {
        if self.inner.appservices.room_kept_from(room_id, user_id) {
            return Err(Error::Exclusive("this room is kept by an application service".into()));
        }
        let allowed = self
            .with_head(room_id, |head| {
                head.membership(user_id) == Some(MembershipState::Join)
                    && head.power_of(user_id) >= head.state_power("m.room.canonical_alias")
            })
            .await?;
        if !allowed {
            return Err(Error::forbidden("you may not change this room's visibility"));
        }
        self.store().set_room_public(room_id.as_str(), public).await
    }

    /// PUT /directory/list/appservice/{network}/{room}: a service lists a
    /// room in one of its networks' directories (or withdraws it).
    pub async fn list_in_network(
        &self,
        appservice_id: &str,
        network_id: &str,
        room_id: &RoomId,
        public: bool,
    ) -> Result<()> {
        self.with_head(room_id, |_| ()).await?;
        let store = self.store();
        store.set_appservice_room_listed(appservice_id, network_id, room_id.as_str(), public).await
    }

    /// The rooms a directory query covers: the server's own list, every
    /// list (with the networks services keep), or one network's,
    /// `{appservice id}|{network id}`.
    async fn listed_rooms(&self, network: &RoomNetwork) -> Result<Vec<OwnedRoomId>> {
        let store = self.store();
        Ok(match network {
            RoomNetwork::Matrix => store.public_rooms().await?,
            RoomNetwork::All => {
                let mut rooms = store.public_rooms().await?;
                let listed = store.appservice_listed_rooms(None).await?;
                rooms.extend(
                    listed.into_iter().filter(|room| !rooms.contains(room)).collect::<Vec<_>>(),
                );
                rooms
            }
            RoomNetwork::ThirdParty(instance) => match instance.split_once('|') {
                Some(network) => store.appservice_listed_rooms(Some(network)).await?,
                None => Vec::new(),
            },
            _ => Vec::new(),
        })
    }
}

/// What a page of a room directory is asked for.
#[derive(Debug, Default)]
pub struct DirectoryQuery<'a> {
    /// Words the name, topic or alias must contain.
    pub search: Option<&'a str>,
    pub limit: Option<usize>,
    /// Where the previous page ended.
    pub since: Option<&'a str>,
    /// Whose list: the server's, a bridge network's, or all.
    pub network: RoomNetwork,
}

/// One page of the public room directory.
pub struct PublicRoomsPage {
    pub chunk: Vec<ruma::directory::PublicRoomsChunk>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
    pub total: usize,
}

impl Rooms {
    /// The published rooms of `server` (this one when None), asked of that
    /// server over federation when it is another.
    pub async fn public_rooms_of(
        &self,
        server: Option<&ruma::ServerName>,
        query: DirectoryQuery<'_>,
    ) -> Result<PublicRoomsPage> {
        let Some(server) = server.filter(|s| *s != self.inner.config.server.server_name) else {
            return self.public_rooms(query).await;
        };
        let mut request = get_public_rooms_filtered::v1::Request::new();
        request.limit = query.limit.and_then(|l| ruma::UInt::try_from(l as u64).ok());
        request.since = query.since.map(str::to_owned);
        request.filter.generic_search_term = query.search.map(str::to_owned);
        request.room_network = query.network;
        let answer = self.inner.federation.send(server, request).await?;
        let total =
            answer.total_room_count_estimate.map_or(answer.chunk.len(), |n| u64::from(n) as usize);
        Ok(PublicRoomsPage {
            chunk: answer.chunk,
            next_batch: answer.next_batch,
            prev_batch: answer.prev_batch,
            total,
        })
    }

    /// The published rooms, optionally matching a search term, by offset.
    pub async fn public_rooms(&self, query: DirectoryQuery<'_>) -> Result<PublicRoomsPage> {
        use ruma::directory::PublicRoomsChunk;
        let DirectoryQuery { search, limit, since, network } = query;
        let offset: usize = match since {
            Some(token) => token
                .strip_prefix('p')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Error::invalid_param("invalid since token"))?,
            None => 0,
        };
        let term = search.map(str::to_lowercase).filter(|t| !t.is_empty());
        let mut all = Vec::new();
        for room_id in self.listed_rooms(&network).await? {
            let chunk: PublicRoomsChunk =
                self.with_head(&room_id, |head| head.summary(&room_id).into()).await?;
            let matches = term.as_ref().is_none_or(|term| {
                [
                    chunk.name.as_deref(),
                    chunk.topic.as_deref(),
                    chunk.canonical_alias.as_ref().map(|a| a.as_str()),
                ]
                .into_iter()
                .flatten()
                .any(|text| text.to_lowercase().contains(term.as_str()))
            });
            if matches {
                all.push(chunk);
            }
        }
        // Busiest rooms first, as people expect of a directory.
        all.sort_by(|a, b| {
            b.num_joined_members.cmp(&a.num_joined_members).then(a.room_id.cmp(&b.room_id))
        });
        let total = all.len();
        let limit = limit.unwrap_or(total.max(1)).max(1);
        let chunk: Vec<_> = all.into_iter().skip(offset).take(limit).collect();
        let next_batch =
            (offset + chunk.len() < total).then(|| format!("p{}", offset + chunk.len()));
        let prev_batch = (offset > 0).then(|| format!("p{}", offset.saturating_sub(limit)));
        Ok(PublicRoomsPage { chunk, next_batch, prev_batch, total })
    }
}
