//! Password hashing with argon2id on a small pool of dedicated threads:
//! logins never stall the async workers, and each thread reuses one memory
//! buffer for every hash (allocating 19 MiB per login made the allocator
//! keep every one of them, and the server's RSS grew with each login).

use std::sync::{Arc, Mutex, mpsc};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD as B64};
use tokio::sync::oneshot;

use crate::{
    config::Argon2Config,
    error::{Error, Result},
};

/// Work for a hashing thread, given that thread's reusable memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

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
        let decoy = hash_with(&params, "decoy password", &mut Vec::new())?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
        for n in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(Error::internal)?;
        }
        Ok(Self { params, decoy, jobs })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |memory: &mut Vec<Block>| {
                let _ = reply.send(work(memory));
            }))
            .map_err(|_| Error::internal("password hashing stopped"))?;
        answer.await.map_err(|_| Error::internal("password hashing stopped"))
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params.clone();
        self.run(move |memory| hash_with(&params, &password, memory)).await?
    }

    /// Checks `password` against `hash`; with no hash, burns the same time
    /// on the decoy and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let matches = self.run(move |memory| verify_with(&hash, &password, memory)).await?;
        Ok(known && matches)
    }
}

/// Runs argon2id in `memory`, growing it to what `params` need.
fn argon2(
    params: &Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<()> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .map_err(Error::internal)
}

/// A PHC string: `$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>`.
fn hash_with(params: &Params, password: &str, memory: &mut Vec<Block>) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(Error::internal)?;
    let mut out = [0u8; 32];
    argon2(params, password, &salt, &mut out, memory)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        B64.encode(salt),
        B64.encode(out)
    ))
}

/// Checks a password against a PHC string made by `hash_with`.
fn verify_with(phc: &str, password: &str, memory: &mut Vec<Block>) -> bool {
    let parts: Vec<&str> = phc.split('$').collect();
    let ["", "argon2id", "v=19", costs, salt, expected] = parts.as_slice() else {
        return false;
    };
    let cost = |name: &str| {
        costs
            .split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse::<u32>().ok())
    };
    let (Some(m), Some(t), Some(p)) = (cost("m"), cost("t"), cost("p")) else {
        return false;
    };
    let (Ok(salt), Ok(expected)) = (B64.decode(salt), B64.decode(expected)) else {
        return false;
    };
    let Ok(params) = Params::new(m, t, p, Some(expected.len())) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2(&params, password, &salt, &mut out, memory).is_err() {
        return false;
    }
    // Compare in constant time.
    out.iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let params = Params::new(256, 1, 1, None).expect("params");
        let mut memory = Vec::new();
        let hash = hash_with(&params, "correct horse", &mut memory).expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert!(verify_with(&hash, "correct horse", &mut memory));
        assert!(!verify_with(&hash, "wrong horse", &mut memory));
        assert!(!verify_with("$argon2id$garbage", "correct horse", &mut memory));
        // A hash with other costs still verifies (the buffer grows).
        let bigger = Params::new(1024, 1, 1, None).expect("params");
        let other = hash_with(&bigger, "pw", &mut Vec::new()).expect("hash");
        assert!(verify_with(&other, "pw", &mut memory));
    }
}
