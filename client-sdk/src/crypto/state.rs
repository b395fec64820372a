//! The device's cryptographic state: its Olm account, Olm sessions with
//! other devices, Megolm sessions, and what it knows of others' devices.
//! Saved to the store as vodozemac pickles after every change.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use vodozemac::{
    Ed25519SecretKey, PickleError,
    megolm::{GroupSession, GroupSessionPickle, InboundGroupSession, InboundGroupSessionPickle},
    olm::{Account, AccountPickle, Session, SessionPickle},
};

/// Another device's public keys, from a verified /keys/query answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DeviceInfo {
    pub curve25519: String,
    pub ed25519: String,
}

/// An outgoing Megolm session of one room and who has its key.
pub(crate) struct Outbound {
    pub session: GroupSession,
    /// (user, device) pairs the key was sent to.
    pub shared_with: HashSet<(String, String)>,
    pub created_at_ms: u64,
    pub messages: u64,
}

/// An incoming Megolm session, with the Curve25519 key of its sender.
pub(crate) struct Inbound {
    pub session: InboundGroupSession,
    pub sender_key: String,
}

pub(crate) struct CryptoState {
    pub account: Account,
    /// Whether the device keys were uploaded.
    pub published: bool,
    /// Olm sessions by the other device's Curve25519 key, newest last.
    pub olm: HashMap<String, Vec<Session>>,
    pub outbound: HashMap<String, Outbound>,
    /// Inbound sessions by (room id, session id).
    pub inbound: HashMap<(String, String), Inbound>,
    /// Known devices by user, then device id.
    pub devices: HashMap<String, HashMap<String, DeviceInfo>>,
    /// Users whose device lists must be fetched again.
    pub stale: HashSet<String>,
    /// The server-side key backup in use: (version, public key).
    pub backup: Option<(String, String)>,
    /// Inbound sessions already in that backup.
    pub backed_up: HashSet<(String, String)>,
    /// This user's cross-signing private keys, when this device holds them.
    pub cross_signing: Option<CrossSigningKeys>,
    /// Devices verified interactively (SAS): (user, device).
    pub verified: HashSet<(String, String)>,
    /// When a fresh Olm session was last opened to mend a broken one, by
    /// the other device's Curve25519 key (in memory only).
    pub unwedged: HashMap<String, u64>,
    /// Why a sender withheld a session's key: (room, session) -> code.
    pub withheld: HashMap<(String, String), String>,
}

/// The three cross-signing keys.
pub(crate) struct CrossSigningKeys {
    pub master: Ed25519SecretKey,
    pub self_signing: Ed25519SecretKey,
    pub user_signing: Ed25519SecretKey,
}

/// A cross-signing key as stored: its public key and its sealed secret.
#[derive(Serialize, Deserialize)]
struct SealedKey {
    public: String,
    secret: String,
}

fn seal_key(pickle_key: &[u8; 32], key: &Ed25519SecretKey) -> SealedKey {
    SealedKey {
        public: key.public_key().to_base64(),
        secret: super::attachment::seal(pickle_key, key.to_bytes().as_slice()).unwrap_or_default(),
    }
}

fn unseal_key(pickle_key: &[u8; 32], sealed: &SealedKey) -> Option<Ed25519SecretKey> {
    let bytes: [u8; 32] = super::attachment::unseal(pickle_key, &sealed.secret)?.try_into().ok()?;
    let key = Ed25519SecretKey::from_slice(&bytes);
    // A wrong pickle key or a tampered store gives another key: refuse it.
    (key.public_key().to_base64() == sealed.public).then_some(key)
}

#[derive(Serialize, Deserialize)]
struct OutboundPickle {
    session: String,
    shared_with: Vec<(String, String)>,
    created_at_ms: u64,
    messages: u64,
}

#[derive(Serialize, Deserialize)]
struct InboundPickle {
    room_id: String,
    session: String,
    sender_key: String,
}

/// Everything above, in a form that can be written down: every secret is
/// a vodozemac pickle encrypted with the store's pickle key; device keys
/// are public and stay readable.
#[derive(Serialize, Deserialize)]
pub(crate) struct Pickled {
    account: String,
    published: bool,
    olm: HashMap<String, Vec<String>>,
    outbound: HashMap<String, OutboundPickle>,
    inbound: Vec<InboundPickle>,
    devices: HashMap<String, HashMap<String, DeviceInfo>>,
    stale: HashSet<String>,
    #[serde(default)]
    backup: Option<(String, String)>,
    #[serde(default)]
    backed_up: Vec<(String, String)>,
    #[serde(default)]
    cross_signing: Option<[SealedKey; 3]>,
    #[serde(default)]
    verified: Vec<(String, String)>,
    #[serde(default)]
    withheld: Vec<(String, String, String)>,
}

impl CryptoState {
    pub fn new() -> Self {
        Self {
            account: Account::new(),
            published: false,
            olm: HashMap::new(),
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            devices: HashMap::new(),
            stale: HashSet::new(),
            backup: None,
            backed_up: HashSet::new(),
            cross_signing: None,
            verified: HashSet::new(),
            unwedged: HashMap::new(),
            withheld: HashMap::new(),
        }
    }

    pub fn pickle(&self, key: &[u8; 32]) -> Pickled {
        Pickled {
            account: self.account.pickle().encrypt(key),
            published: self.published,
            olm: self
                .olm
                .iter()
                .map(|(id, sessions)| {
                    (id.clone(), sessions.iter().map(|s| s.pickle().encrypt(key)).collect())
                })
                .collect(),
            outbound: self
                .outbound
                .iter()
                .map(|(room, out)| {
                    let pickle = OutboundPickle {
                        session: out.session.pickle().encrypt(key),
                        shared_with: out.shared_with.iter().cloned().collect(),
                        created_at_ms: out.created_at_ms,
                        messages: out.messages,
                    };
                    (room.clone(), pickle)
                })
                .collect(),
            inbound: self
                .inbound
                .iter()
                .map(|((room_id, _), inbound)| InboundPickle {
                    room_id: room_id.clone(),
                    session: inbound.session.pickle().encrypt(key),
                    sender_key: inbound.sender_key.clone(),
                })
                .collect(),
            devices: self.devices.clone(),
            stale: self.stale.clone(),
            backup: self.backup.clone(),
            backed_up: self.backed_up.iter().cloned().collect(),
            cross_signing: self.cross_signing.as_ref().map(|keys| {
                [&keys.master, &keys.self_signing, &keys.user_signing].map(|k| seal_key(key, k))
            }),
            verified: self.verified.iter().cloned().collect(),
            withheld: self
                .withheld
                .iter()
                .map(|((room, session), code)| (room.clone(), session.clone(), code.clone()))
                .collect(),
        }
    }

    /// Reads a pickled state back; fails with a wrong key.
    pub fn unpickle(pickled: Pickled, key: &[u8; 32]) -> Result<Self, PickleError> {
        let mut olm = HashMap::new();
        for (id, sessions) in pickled.olm {
            let sessions = sessions
                .iter()
                .map(|s| SessionPickle::from_encrypted(s, key).map(Session::from_pickle))
                .collect::<Result<Vec<_>, _>>()?;
            olm.insert(id, sessions);
        }
        let mut outbound = HashMap::new();
        for (room, out) in pickled.outbound {
            let session =
                GroupSession::from_pickle(GroupSessionPickle::from_encrypted(&out.session, key)?);
            let shared_with = out.shared_with.into_iter().collect();
            let out = Outbound {
                session,
                shared_with,
                created_at_ms: out.created_at_ms,
                messages: out.messages,
            };
            outbound.insert(room, out);
        }
        let mut inbound = HashMap::new();
        for pickle in pickled.inbound {
            let session = InboundGroupSession::from_pickle(
                InboundGroupSessionPickle::from_encrypted(&pickle.session, key)?,
            );
            let id = (pickle.room_id, session.session_id());
            inbound.insert(id, Inbound { session, sender_key: pickle.sender_key });
        }
        Ok(Self {
            account: Account::from_pickle(AccountPickle::from_encrypted(&pickled.account, key)?),
            published: pickled.published,
            olm,
            outbound,
            inbound,
            devices: pickled.devices,
            stale: pickled.stale,
            backup: pickled.backup,
            backed_up: pickled.backed_up.into_iter().collect(),
            cross_signing: match &pickled.cross_signing {
                Some([master, self_signing, user_signing]) => {
                    let open = |sealed: &SealedKey| {
                        unseal_key(key, sealed).ok_or_else(|| {
                            PickleError::Serialization(serde::de::Error::custom(
                                "a cross-signing key does not match its public key",
                            ))
                        })
                    };
                    Some(CrossSigningKeys {
                        master: open(master)?,
                        self_signing: open(self_signing)?,
                        user_signing: open(user_signing)?,
                    })
                }
                None => None,
            },
            verified: pickled.verified.into_iter().collect(),
            unwedged: HashMap::new(),
            withheld: pickled
                .withheld
                .into_iter()
                .map(|(room, session, code)| ((room, session), code))
                .collect(),
        })
    }
}
