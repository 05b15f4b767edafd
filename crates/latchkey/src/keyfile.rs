//! The master key file and its rotation on disk.
//!
//! `master.key` holds the current key (0600). Rotation stages `master.key.next`, re-seals the
//! database, then renames the staged file over the current one. A crash between the database
//! commit and the rename leaves both files; [`load_keyring`] then loads both, and since every
//! sealed value names the key that sealed it, nothing is lost. `LATCHKEY_MASTER_KEY` supplies
//! the key text directly instead (and then rotation is refused: rotate it where it is kept).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use latchkey_core::admin::KeyPersistence;
use latchkey_crypto::seal::{Keyring, MasterKey};

/// Environment variable that supplies the master key text instead of a file.
pub const MASTER_KEY_ENV: &str = "LATCHKEY_MASTER_KEY";

/// Writes `contents` to `path` with mode 0600, durably, refusing to follow into an existing
/// file unless `replace`.
pub fn write_private(path: &Path, contents: &[u8], replace: bool) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).mode(0o600);
    if replace {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

fn check_private(path: &Path) -> Result<()> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn read_key(path: &Path) -> Result<MasterKey> {
    check_private(path)?;
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::from_file_text(&text)
        .with_context(|| format!("{} is not a Latchkey master key", path.display()))
}

fn staged(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".next");
    PathBuf::from(p)
}

/// How the key was obtained.
pub enum KeySource {
    /// From this file (created now if `created`).
    File {
        /// Path.
        path: PathBuf,
        /// Created on this start.
        created: bool,
        /// A staged key from an interrupted rotation was found and loaded too.
        interrupted_rotation: bool,
    },
    /// From the environment.
    Env,
}

/// Loads the keyring from the environment or the file, creating the file on first start.
pub fn load_keyring(
    path: &Path,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(Keyring, KeySource)> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        let key = MasterKey::from_file_text(&text)
            .with_context(|| format!("{MASTER_KEY_ENV} is not a Latchkey master key"))?;
        return Ok((Keyring::new(key), KeySource::Env));
    }
    let mut created = false;
    if !path.exists() {
        let key = MasterKey::generate(rng);
        write_private(path, key.to_file_text().as_bytes(), false)?;
        created = true;
    }
    let mut ring = Keyring::new(read_key(path)?);
    let next = staged(path);
    let interrupted_rotation = next.exists();
    if interrupted_rotation {
        ring = ring.with_older(read_key(&next)?);
    }
    Ok((
        ring,
        KeySource::File {
            path: path.to_owned(),
            created,
            interrupted_rotation,
        },
    ))
}

/// [`KeyPersistence`] over the key file.
pub struct KeyFile(pub PathBuf);

impl KeyPersistence for KeyFile {
    fn stage(&self, key: &MasterKey) -> Result<(), String> {
        // create_new: never overwrite a staged key an interrupted rotation may still need.
        write_private(&staged(&self.0), key.to_file_text().as_bytes(), false)
            .map_err(|e| format!("{e:#}"))
    }

    fn discard_staged(&self) -> Result<(), String> {
        match fs::remove_file(staged(&self.0)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    fn commit(&self) -> Result<(), String> {
        fs::rename(staged(&self.0), &self.0).map_err(|e| e.to_string())?;
        if let Some(dir) = self.0.parent() {
            // Make the rename itself durable.
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
