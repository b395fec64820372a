//! Password hashing with argon2id on a small pool of dedicated threads:
//! logins never stall the async workers, and the memory each hash needs is
//! reused by a fixed few threads instead of piling up across many.

use std::sync::{Arc, Mutex, mpsc};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use tokio::sync::oneshot;

use crate::{
    config::Argon2Config,
    error::{Error, Result},
};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash made at start-up and checked when the account does not exist,
    /// so that a failed login takes as long for unknown users as for known ones.
    decoy: String,
    jobs: mpsc::Sender<Job>,
}

impl PasswordHasher {
    pub fn new(config: &Argon2Config) -> Result<Self> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| Error::internal(format!("invalid argon2 parameters: {e}")))?;
        let decoy = hash_with(&params, "decoy password")?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
        for n in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(Error::internal)?;
        }
        Ok(Self { params, decoy, jobs })
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = reply.send(work());
            }))
            .map_err(|_| Error::internal("password hashing stopped"))?;
        answer.await.map_err(|_| Error::internal("password hashing stopped"))
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params.clone();
        self.run(move || hash_with(&params, &password)).await?
    }

    /// Checks `password` against `hash`; with no hash, burns the same time
    /// on the decoy and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let matches = self
            .run(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matches)
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String> {
    // hash_password draws a fresh random salt for every hash.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(Error::internal)
}
