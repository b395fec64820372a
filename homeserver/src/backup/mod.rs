//! Backups: `lattice backup`, `lattice verify`, `lattice restore`. An
//! archive is a tar file holding a consistent copy of the database (which
//! holds the server's signing key, so peers keep trusting a restored
//! server), every media file and the configuration file, and last a
//! manifest with each part's size and SHA-256. Everything is streamed, so
//! memory stays flat however large the media store. Restoring checks every
//! hash before it writes anything, and writes only into empty places.
//! The database part is an SQLite file for either backend ([`database`]).

use std::{
    collections::BTreeMap,
    fs::File,
    io::{self, IsTerminal, Read, Write},
    path::{Component, Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Config;

mod database;

/// The manifest's name in the archive; it comes last.
pub const MANIFEST: &str = "MANIFEST.json";
const DATABASE: &str = "database/lattice.db";
const MEDIA: &str = "media";
const CONFIG: &str = "config";

/// What an archive holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub lattice_version: String,
    pub server_name: String,
    pub created_at_ms: i64,
    /// Rows of the main tables, for a reader to see what the archive holds.
    pub counts: BTreeMap<String, i64>,
    /// Every part by its path in the archive.
    pub parts: BTreeMap<String, Part>,
    /// For an incremental archive (`--since`): the full archive it builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    /// Media files of the base, not repeated here (they had not changed:
    /// media files are named by their content's hash).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inherited: BTreeMap<String, Part>,
}

/// The full archive an incremental one builds on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// Its file name when the incremental archive was made.
    pub file: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub size: u64,
    pub sha256: String,
}

/// Writes an archive of the running (or stopped) server to `to`; with
/// `since` (a full archive, checked first), media files already in it are
/// left out.
pub async fn backup(
    config: &Config,
    to: &Path,
    config_file: Option<&Path>,
    since: Option<&Path>,
) -> Result<Manifest, String> {
    let base = match since {
        Some(path) => Some((path.to_owned(), full_archive(path)?)),
        None => None,
    };
    // A consistent copy of the database, taken while the server writes,
    // goes beside the archive, then into it.
    let snapshot = to.with_extension("db-snapshot");
    let counts = database::snapshot(config, &snapshot).await;
    let counts = counts.inspect_err(|_| {
        let _ = std::fs::remove_file(&snapshot);
    })?;

    let media_dir = config.server.data_dir.join("media");
    let mut manifest = Manifest {
        format: 1,
        lattice_version: env!("CARGO_PKG_VERSION").to_owned(),
        server_name: config.server.server_name.to_string(),
        created_at_ms: crate::store::now_ms(),
        counts,
        parts: BTreeMap::new(),
        base: base.as_ref().map(|(path, base)| Base {
            file: path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            created_at_ms: base.created_at_ms,
        }),
        inherited: BTreeMap::new(),
    };
    let (to, config_file) = (to.to_owned(), config_file.map(Path::to_owned));
    let base_parts = base.map(|(_, base)| base.parts).unwrap_or_default();
    let written = tokio::task::spawn_blocking(move || {
        let sources = Sources {
            snapshot: &snapshot,
            media_dir: &media_dir,
            config_file: config_file.as_deref(),
        };
        let result = write_archive(&to, &sources, &base_parts, &mut manifest);
        let _ = std::fs::remove_file(&snapshot);
        result.map(|()| manifest)
    })
    .await
    .map_err(|e| e.to_string())?;
    written.map_err(|e| format!("cannot write the archive: {e}"))
}

/// What goes into an archive.
struct Sources<'a> {
    snapshot: &'a Path,
    media_dir: &'a Path,
    config_file: Option<&'a Path>,
}

fn write_archive(
    to: &Path,
    sources: &Sources<'_>,
    base: &BTreeMap<String, Part>,
    manifest: &mut Manifest,
) -> io::Result<()> {
    let media: Vec<PathBuf> = files_under(sources.media_dir)?.collect();
    let mut total = std::fs::metadata(sources.snapshot)?.len();
    for file in &media {
        total += std::fs::metadata(file)?.len();
    }
    let progress = progress_bar(total);
    let mut archive = tar::Builder::new(io::BufWriter::new(File::create(to)?));
    let mut add = |name: String, file: &Path| -> io::Result<()> {
        let source = File::open(file)?;
        let size = source.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_cksum();
        let mut hashing = Hashing::new(progress.wrap_read(source));
        archive.append_data(&mut header, &name, &mut hashing)?;
        manifest.parts.insert(name, hashing.part());
        Ok(())
    };
    add(DATABASE.to_owned(), sources.snapshot)?;
    for file in &media {
        let relative = file.strip_prefix(sources.media_dir).map_err(io::Error::other)?;
        let name = format!("{MEDIA}/{}", relative.display());
        // Named by their content's hash: the same name and size in the
        // base is the same file.
        match base.get(&name) {
            Some(part) if part.size == std::fs::metadata(file)?.len() => {
                progress.inc(part.size);
                manifest.inherited.insert(name, part.clone());
            }
            _ => add(name, file)?,
        }
    }
    if let Some(config_file) = sources.config_file {
        let name = config_file.file_name().map_or("lattice.toml".into(), |n| n.to_string_lossy());
        add(format!("{CONFIG}/{name}"), config_file)?;
    }
    progress.finish_and_clear();
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    archive.append_data(&mut header, MANIFEST, json.as_slice())?;
    archive.into_inner()?.flush()
}

/// Reads an archive through and checks every part against the manifest.
pub fn verify(archive: &Path) -> Result<Manifest, String> {
    let mut found = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    each_entry(archive, |name, entry| {
        if name == MANIFEST {
            manifest =
                Some(serde_json::from_reader(entry).map_err(|e| format!("bad manifest: {e}"))?);
            return Ok(());
        }
        let mut hashing = Hashing::new(entry);
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| format!("{name}: {e}"))?;
        found.insert(name.to_owned(), hashing.part());
        Ok(())
    })?;
    let manifest = manifest.ok_or_else(|| {
        format!("{}: no manifest (not a Lattice backup, or cut short)", archive.display())
    })?;
    for (name, expected) in &manifest.parts {
        match found.remove(name) {
            Some(part) if part == *expected => {}
            Some(_) => {
                return Err(format!(
                    "{}: {name} is damaged (its hash does not match)",
                    archive.display()
                ));
            }
            None => return Err(format!("{}: {name} is missing", archive.display())),
        }
    }
    if let Some(extra) = found.keys().next() {
        return Err(format!("{}: {extra} is not in the manifest", archive.display()));
    }
    Ok(manifest)
}

/// A full archive, checked whole: what an incremental one may build on.
fn full_archive(path: &Path) -> Result<Manifest, String> {
    let manifest = verify(path)?;
    match manifest.base {
        Some(_) => Err(format!(
            "{}: an incremental archive; build on a full one (made without --since)",
            path.display()
        )),
        None => Ok(manifest),
    }
}

/// Checks an archive and, for an incremental one, its base: every file it
/// inherits must be in the base, unchanged.
pub fn verify_with_base(archive: &Path, base: Option<&Path>) -> Result<Manifest, String> {
    let manifest = verify(archive)?;
    let (Some(expected), Some(base)) = (&manifest.base, base) else {
        return match (&manifest.base, base) {
            (Some(expected), None) => Err(format!(
                "{}: an incremental archive; give its base, {} (made at {} ms), with --base",
                archive.display(),
                expected.file,
                expected.created_at_ms
            )),
            (None, Some(_)) => {
                Err(format!("{}: a full archive; it needs no --base", archive.display()))
            }
            _ => Ok(manifest),
        };
    };
    let found = full_archive(base)?;
    if found.created_at_ms != expected.created_at_ms {
        return Err(format!(
            "{}: not the base of {} (that is {}, made at {} ms)",
            base.display(),
            archive.display(),
            expected.file,
            expected.created_at_ms
        ));
    }
    for (name, part) in &manifest.inherited {
        if found.parts.get(name) != Some(part) {
            return Err(format!("{}: {name} is missing or different", base.display()));
        }
    }
    Ok(manifest)
}

/// Checks the archive (and the base of an incremental one), then restores
/// it into the configured places, which must be empty.
pub async fn restore(
    config: &Config,
    archive: &Path,
    base: Option<&Path>,
) -> Result<Manifest, String> {
    let manifest = verify_with_base(archive, base)?;
    let media_dir = config.server.data_dir.join("media");
    if files_under(&media_dir).map_err(|e| e.to_string())?.next().is_some() {
        return Err(format!("refusing to restore over the media in {}", media_dir.display()));
    }
    let database = database::restore_target(config).await?;
    let config_dir = config.server.data_dir.join("restored-config");
    let (archive, base, target) = (archive.to_owned(), base.map(Path::to_owned), database.clone());
    let manifest = tokio::task::spawn_blocking(move || {
        restore_files(&archive, base.as_deref(), manifest, &target, &media_dir, &config_dir)
    })
    .await
    .map_err(|e| e.to_string())??;
    database::install(config, &database).await?;
    Ok(manifest)
}

/// Writes every part of a checked archive (and the inherited ones of its base) to its place.
fn restore_files(
    archive: &Path,
    base: Option<&Path>,
    manifest: Manifest,
    database: &Path,
    media_dir: &Path,
    config_dir: &Path,
) -> Result<Manifest, String> {
    each_entry(archive, |name, entry| {
        let target = match name {
            MANIFEST => return Ok(()),
            DATABASE => database.to_owned(),
            _ => match (name.strip_prefix("media/"), name.strip_prefix("config/")) {
                (Some(rest), _) => media_dir.join(safe_relative(rest)?),
                (_, Some(rest)) => config_dir.join(safe_relative(rest)?),
                _ => return Err(format!("unexpected part {name}")),
            },
        };
        let expected =
            manifest.parts.get(name).ok_or_else(|| format!("{name} is not in the manifest"))?;
        restore_file(entry, &target, expected, name)
    })?;
    if let Some(base) = base {
        each_entry(base, |name, entry| {
            let (Some(expected), Some(rest)) =
                (manifest.inherited.get(name), name.strip_prefix("media/"))
            else {
                return Ok(());
            };
            let target = media_dir.join(safe_relative(rest)?);
            restore_file(entry, &target, expected, name)
        })?;
    }
    Ok(manifest)
}

/// Writes one part to `target`, checking it against the manifest as it goes.
fn restore_file(
    entry: &mut dyn Read,
    target: &Path,
    expected: &Part,
    name: &str,
) -> Result<(), String> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let mut file = File::create(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let mut hashing = Hashing::new(entry);
    io::copy(&mut hashing, &mut file).map_err(|e| format!("{}: {e}", target.display()))?;
    // The archive was checked, but it could have changed since.
    if hashing.part() != *expected {
        return Err(format!("{name} changed while it was restored"));
    }
    Ok(())
}

/// A progress bar on standard error while a person watches (not when the
/// output goes to a file or a script).
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn each_entry(
    archive: &Path,
    mut visit: impl FnMut(&str, &mut dyn Read) -> Result<(), String>,
) -> Result<(), String> {
    let file = File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut reader = tar::Archive::new(io::BufReader::new(file));
    let entries = reader.entries().map_err(|e| format!("{}: {e}", archive.display()))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| format!("{}: damaged archive: {e}", archive.display()))?;
        let name = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        visit(&name, &mut entry)?;
    }
    Ok(())
}

/// A path inside the archive that stays inside where it is restored.
fn safe_relative(path: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(path);
    match path.components().all(|c| matches!(c, Component::Normal(_))) {
        true => Ok(path),
        false => Err(format!("refusing the path {}", path.display())),
    }
}

/// The SQLite database file; PostgreSQL has tools of its own.
/// Every file under `dir` (none when it does not exist), sorted.
fn files_under(dir: &Path) -> io::Result<std::vec::IntoIter<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            match entry.file_type()?.is_dir() {
                true => pending.push(entry.path()),
                false => files.push(entry.path()),
            }
        }
    }
    files.sort();
    Ok(files.into_iter())
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), size: 0 }
    }

    fn part(&self) -> Part {
        let digest = self.hasher.clone().finalize();
        Part { size: self.size, sha256: digest.iter().map(|b| format!("{b:02x}")).collect() }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}
