//! Slash commands, run on the server.

use lattice_sdk::{
    Error, Room,
    ruma::{OwnedRoomId, api::client::room::create_room, presence::PresenceState},
};

use super::{Outcome, Worker, parse_user};
use crate::commands::Command;

impl Worker {
    pub(super) async fn command(
        &self,
        room: Option<OwnedRoomId>,
        command: Command,
    ) -> Option<Outcome> {
        let here = || room.clone().map(|id| self.client.room(id));
        let outcome = match command {
            Command::Join(alias) => match self.client.join_room_by_id_or_alias(&alias).await {
                Ok(room) => Outcome::Open(room.room_id().to_owned()),
                Err(e) => Outcome::Failed(format!("could not join {alias}: {e}")),
            },
            Command::Create(name) => {
                let mut request = create_room::v3::Request::new();
                request.name = Some(name.clone());
                request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
                match self.client.create_room(request).await {
                    Ok(room) => {
                        // Private rooms are encrypted, as Element makes them.
                        let _ = room.enable_encryption().await;
                        Outcome::Open(room.room_id().to_owned())
                    }
                    Err(e) => Outcome::Failed(format!("could not create {name}: {e}")),
                }
            }
            Command::Dm(who) => match parse_user(&who) {
                Ok(user_id) => match self.client.create_dm(&user_id).await {
                    Ok(room) => {
                        let _ = room.enable_encryption().await;
                        Outcome::Open(room.room_id().to_owned())
                    }
                    Err(e) => Outcome::Failed(format!("no chat with {who}: {e}")),
                },
                Err(message) => Outcome::Failed(message),
            },
            Command::Search(term) => self.search(term).await,
            Command::Devices(user) => self.devices(user).await,
            Command::Verify(user, device) => match self.start_verification(user, device).await {
                Ok(()) => return None,
                Err(message) => Outcome::Failed(message),
            },
            Command::Backup => self.enable_backup().await,
            Command::Restore(key) => self.restore_backup(&key).await,
            Command::Away(message) => {
                self.away.store(true, std::sync::atomic::Ordering::Relaxed);
                match self.client.set_presence(PresenceState::Unavailable, message.as_deref()).await
                {
                    Ok(()) => Outcome::Info("you are away".to_owned()),
                    Err(e) => Outcome::Failed(format!("still shown as around: {e}")),
                }
            }
            Command::Back => {
                self.away.store(false, std::sync::atomic::Ordering::Relaxed);
                match self.client.set_presence(PresenceState::Online, None).await {
                    Ok(()) => Outcome::Info("back".to_owned()),
                    Err(e) => Outcome::Failed(format!("still shown as away: {e}")),
                }
            }
            Command::Logout => match self.client.logout().await {
                Ok(()) => Outcome::LoggedOut,
                Err(e) => Outcome::Failed(format!("not logged out: {e}")),
            },
            command => {
                let Some(room) = here() else {
                    return Some(Outcome::Failed("open a room first".to_owned()));
                };
                match self.in_room(&room, command).await {
                    Ok(outcome) => outcome,
                    Err(e) => Outcome::Failed(e),
                }
            }
        };
        Some(outcome)
    }

    async fn in_room(&self, room: &Room, command: Command) -> Result<Outcome, String> {
        let done = |what: String| Ok(Outcome::Info(what));
        let err = |e: Error| e.to_string();
        match command {
            Command::Leave => {
                room.leave().await.map_err(err)?;
                Ok(Outcome::Left(room.room_id().to_owned()))
            }
            Command::Invite(who) => {
                room.invite_user(&parse_user(&who)?).await.map_err(err)?;
                done(format!("invited {who}"))
            }
            Command::Kick(who, reason) => {
                room.kick_user(&parse_user(&who)?, reason.as_deref()).await.map_err(err)?;
                done(format!("removed {who}"))
            }
            Command::Ban(who, reason) => {
                room.ban_user(&parse_user(&who)?, reason.as_deref()).await.map_err(err)?;
                done(format!("banned {who}"))
            }
            Command::Unban(who) => {
                room.unban_user(&parse_user(&who)?).await.map_err(err)?;
                done(format!("unbanned {who}"))
            }
            Command::Topic(topic) => {
                room.set_topic(&topic).await.map_err(err)?;
                done("topic set".to_owned())
            }
            Command::Name(name) => {
                room.set_name(&name).await.map_err(err)?;
                done("room renamed".to_owned())
            }
            Command::Upload(path) => self.upload(room, &path).await,
            Command::Emote(text) => {
                room.send_emote(&text).await.map_err(err)?;
                Ok(Outcome::Info(String::new()))
            }
            other => Err(format!("{other:?} is not for a room")),
        }
    }
}
