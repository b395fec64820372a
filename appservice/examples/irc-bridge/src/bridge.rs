//! The bridge itself: what IRC says goes to Matrix through ghosts, what
//! Matrix users say goes to IRC through their own connections.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    sync::{Arc, RwLock},
};

use irc_proto::{Command, Message, Response};
use lattice_appservice::{
    Appservice, Intent, Registration, StateStore,
    ruma::{
        OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomId, UserId,
        api::{
            client::room::{Visibility, create_room},
            error::ErrorKind,
        },
        events::{
            AnyMessageLikeEvent, AnyStateEvent, AnyTimelineEvent, MessageLikeEvent,
            room::{member::MembershipState, message::MessageType},
        },
    },
};
use tokio::sync::{Mutex, mpsc};

use crate::{Config, Error, irc::IrcClient, names};

/// Mappings in the state store: IRC channel ↔ portal room id.
const CHANNEL: &str = "channel";

/// A running bridge. Cheap to clone.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

struct Inner {
    service: Appservice,
    irc_server: String,
    /// The bridge's own connection: it sits in every portal's channel and
    /// hears what IRC users say.
    relay: IrcClient,
    /// Each Matrix user's connection, with the channels it joined.
    puppets: Mutex<HashMap<OwnedUserId, (IrcClient, HashSet<String>)>>,
    /// The nicks of the bridge's own connections (lowercase): what they
    /// say is Matrix's, not to be bridged back.
    own_nicks: RwLock<HashSet<String>>,
    /// One portal made at a time (a query and a config may ask together).
    portals: Mutex<()>,
}

/// The registration the homeserver needs for this bridge: ghosts and
/// portals in exclusive namespaces, fresh tokens.
pub fn registration(config: &Config) -> Result<Registration, Error> {
    let server = config.matrix.server_name.replace('.', "\\.");
    let users = format!("@{}.*:{server}", names::PREFIX);
    let aliases = format!("#{}.*:{server}", names::PREFIX);
    Ok(lattice_appservice::registration::generate(
        "irc",
        Some(&config.bridge_url()),
        "ircbot",
        &users,
        Some(&aliases),
    )?)
}

impl Bridge {
    /// Connects to IRC, serves the homeserver on `listener`, and opens
    /// the configured portals (and those of earlier runs).
    pub async fn start(
        config: &Config,
        registration: Registration,
        listener: tokio::net::TcpListener,
    ) -> Result<Self, Error> {
        let store = StateStore::open(&config.store).await?;
        let server_name = config
            .matrix
            .server_name
            .as_str()
            .try_into()
            .map_err(|e| Error::Config(format!("matrix.server_name: {e}")))?;
        let service =
            Appservice::new(registration, &config.matrix.homeserver_url, server_name, store)
                .await?;
        let (heard, mut hearing) = mpsc::unbounded_channel();
        let relay = IrcClient::connect(&config.irc.server, &config.irc.nick, Some(heard)).await?;
        let bridge = Self {
            inner: Arc::new(Inner {
                service: service.clone(),
                irc_server: config.irc.server.clone(),
                own_nicks: RwLock::new(HashSet::from([relay.nick().to_ascii_lowercase()])),
                relay,
                puppets: Mutex::default(),
                portals: Mutex::default(),
            }),
        };

        let on_matrix = bridge.clone();
        service.on_event(move |_, event| {
            let bridge = on_matrix.clone();
            async move {
                if let Err(error) = bridge.relay_to_irc(event).await {
                    tracing::warn!(%error, "could not bridge a Matrix event to IRC");
                }
            }
        });
        let on_query = bridge.clone();
        service.on_room_query(move |_, alias| {
            let bridge = on_query.clone();
            async move { bridge.portal_for_alias(alias).await }
        });
        tokio::spawn(async move {
            if let Err(error) = service.serve(listener).await {
                tracing::error!(%error, "the bridge's listener stopped");
            }
        });

        for channel in &config.irc.channels {
            bridge.portal(channel).await?;
        }
        for (channel, _) in bridge.service().store().mappings(CHANNEL).await? {
            bridge.inner.relay.join(&channel);
        }
        let on_irc = bridge.clone();
        tokio::spawn(async move {
            while let Some(message) = hearing.recv().await {
                if let Err(error) = on_irc.relay_to_matrix(message).await {
                    tracing::warn!(%error, "could not bridge an IRC message to Matrix");
                }
            }
        });
        Ok(bridge)
    }

    /// The application service underneath.
    pub fn service(&self) -> &Appservice {
        &self.inner.service
    }

    /// The portal room of `channel`, made (with its alias) if need be.
    pub async fn portal(&self, channel: &str) -> Result<OwnedRoomId, Error> {
        let channel = channel.to_ascii_lowercase();
        let _one_at_a_time = self.inner.portals.lock().await;
        let store = self.service().store();
        if let Some(room) = store.matrix_of(CHANNEL, &channel).await? {
            return parse_room(&room);
        }
        let localpart = names::portal_alias_localpart(&channel)
            .ok_or_else(|| Error::Config(format!("{channel} cannot have a portal")))?;
        let mut request = create_room::v3::Request::new();
        request.room_alias_name = Some(localpart.clone());
        request.name = Some(channel.clone());
        request.topic = Some(format!("{channel} on IRC, bridged"));
        request.preset = Some(create_room::v3::RoomPreset::PublicChat);
        request.visibility = Visibility::Public;
        let bot = self.service().bot();
        let room = match bot.create_room(request).await {
            Ok(room) => room,
            // Made by an earlier run whose store is gone: take it back.
            Err(lattice_appservice::Error::Client(error))
                if matches!(error.kind(), Some(ErrorKind::RoomInUse)) =>
            {
                let alias = format!("#{localpart}:{}", self.service().server_name());
                bot.join(&alias).await?
            }
            Err(error) => return Err(error.into()),
        };
        store.map(CHANNEL, &channel, room.as_str()).await?;
        self.inner.relay.join(&channel);
        tracing::info!(%channel, %room, "portal opened");
        Ok(room)
    }

    /// A Matrix user asked for `#irc_{channel}`: the channel gets a portal.
    async fn portal_for_alias(&self, alias: OwnedRoomAliasId) -> bool {
        let Some(channel) = names::channel_of_alias_localpart(alias.alias()) else {
            return false;
        };
        match self.portal(&channel).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, %alias, "could not open a portal");
                false
            }
        }
    }

    fn is_own_nick(&self, nick: &str) -> bool {
        let own = self.inner.own_nicks.read().unwrap_or_else(|p| p.into_inner());
        own.contains(&nick.to_ascii_lowercase())
    }

    async fn room_of_channel(&self, channel: &str) -> Result<Option<OwnedRoomId>, Error> {
        let found =
            self.service().store().matrix_of(CHANNEL, &channel.to_ascii_lowercase()).await?;
        found.as_deref().map(parse_room).transpose()
    }

    /// The ghost of an IRC nick, named after it.
    async fn ghost(&self, nick: &str) -> Result<Intent, Error> {
        let user_id = self.service().user_id(&names::ghost_localpart(nick))?;
        let ghost = self.service().intent(&user_id)?;
        ghost.set_display_name(nick).await?;
        Ok(ghost)
    }

    /// IRC → Matrix.
    async fn relay_to_matrix(&self, message: Message) -> Result<(), Error> {
        if let Command::Response(Response::RPL_NAMREPLY, args) = &message.command {
            // Who is in a channel the bridge joined: their ghosts join too.
            let (Some(channel), Some(nicks)) = (args.get(2), args.get(3)) else { return Ok(()) };
            let Some(room) = self.room_of_channel(channel).await? else { return Ok(()) };
            for nick in nicks.split_whitespace() {
                let nick = nick.trim_start_matches(['@', '+', '%', '~', '&']);
                if !self.is_own_nick(nick) {
                    self.ghost(nick).await?.ensure_joined(&room).await?;
                }
            }
            return Ok(());
        }
        let Some(nick) = message.source_nickname().map(str::to_owned) else { return Ok(()) };
        if self.is_own_nick(&nick) {
            return Ok(());
        }
        match message.command {
            Command::PRIVMSG(target, text) => {
                let Some(room) = self.room_of_channel(&target).await? else { return Ok(()) };
                let ghost = self.ghost(&nick).await?;
                let action =
                    text.strip_prefix("\u{1}ACTION ").and_then(|t| t.strip_suffix('\u{1}'));
                match action {
                    Some(action) => ghost.send_emote(&room, action).await?,
                    None => ghost.send_text(&room, &text).await?,
                };
            }
            Command::JOIN(channel, _, _) => {
                if let Some(room) = self.room_of_channel(&channel).await? {
                    self.ghost(&nick).await?.ensure_joined(&room).await?;
                }
            }
            Command::PART(channel, _) => {
                if let Some(room) = self.room_of_channel(&channel).await? {
                    self.ghost_leaves(&nick, &room).await?;
                }
            }
            Command::QUIT(_) => {
                for (_, room) in self.service().store().mappings(CHANNEL).await? {
                    self.ghost_leaves(&nick, &parse_room(&room)?).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn ghost_leaves(&self, nick: &str, room: &RoomId) -> Result<(), Error> {
        let user_id = self.service().user_id(&names::ghost_localpart(nick))?;
        if self.service().store().is_joined(room, &user_id).await? {
            self.service().intent(&user_id)?.leave(room).await?;
        }
        Ok(())
    }

    /// Matrix → IRC.
    async fn relay_to_irc(&self, event: AnyTimelineEvent) -> Result<(), Error> {
        if self.service().is_ours(event.sender()) {
            return Ok(());
        }
        let store = self.service().store();
        let Some(channel) = store.remote_of(CHANNEL, event.room_id().as_str()).await? else {
            return Ok(());
        };
        match event {
            AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                MessageLikeEvent::Original(message),
            )) => {
                let puppet = self.puppet(&message.sender, &channel).await?;
                match &message.content.msgtype {
                    MessageType::Emote(emote) => puppet.action(&channel, &emote.body),
                    other => puppet.privmsg(&channel, other.body()),
                }
            }
            AnyTimelineEvent::State(AnyStateEvent::RoomMember(member)) => {
                let Ok(user_id) = UserId::parse(member.state_key()) else { return Ok(()) };
                if self.service().is_ours(&user_id) {
                    return Ok(());
                }
                match member.membership() {
                    MembershipState::Join => {
                        self.puppet(&user_id, &channel).await?;
                    }
                    MembershipState::Leave | MembershipState::Ban => {
                        let mut puppets = self.inner.puppets.lock().await;
                        if let Some((connection, channels)) = puppets.get_mut(&user_id)
                            && channels.remove(&channel)
                        {
                            connection.part(&channel);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The Matrix user's own IRC connection, in `channel`.
    async fn puppet(&self, user_id: &UserId, channel: &str) -> Result<IrcClient, Error> {
        let mut puppets = self.inner.puppets.lock().await;
        let (connection, channels) = match puppets.entry(user_id.to_owned()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                let nick = names::puppet_nick(user_id.localpart());
                let connection = IrcClient::connect(&self.inner.irc_server, &nick, None).await?;
                // Known as ours before it says anything the relay could hear.
                self.inner
                    .own_nicks
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(connection.nick().to_ascii_lowercase());
                new.insert((connection, HashSet::new()))
            }
        };
        if channels.insert(channel.to_owned()) {
            connection.join(channel);
        }
        Ok(connection.clone())
    }
}

fn parse_room(room: &str) -> Result<OwnedRoomId, Error> {
    RoomId::parse(room).map_err(|e| Error::Config(format!("stored room id {room}: {e}")))
}
