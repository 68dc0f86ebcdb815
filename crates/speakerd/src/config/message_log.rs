//! `message_log` of a neighbour: an MRT BGP4MP log of every message of its sessions (RFC 6396
//! §4.4), rotated by size and age (written by `crate::message_log`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::validate::Locator;
use super::{ConfigError, ConfigErrorKind, NeighborConfig};

/// The default size at which the log is rotated: 64 MiB.
pub const DEFAULT_ROTATE_BYTES: u64 = 64 << 20;

/// The default number of rotated files kept.
pub const DEFAULT_KEEP: usize = 10;

/// The smallest `rotate_bytes` other than 0 (off): one page.
pub const MIN_ROTATE_BYTES: u64 = 4096;

/// A neighbour's message log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageLogConfig {
    /// The file written; rotated files are `FILE.YYYYMMDDTHHMMSSZ` beside it.
    pub file: PathBuf,
    /// Rotate before the file would grow past this many octets; 0 never does.
    pub rotate_bytes: u64,
    /// Rotate at the first record this long after the file was started.
    pub rotate_seconds: Option<Duration>,
    /// Rotated files kept; older ones are removed.
    pub keep: usize,
}

/// `message_log = { file, rotate_bytes, rotate_seconds, keep }` as serde reads it.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMessageLog {
    file: Spanned<String>,
    #[serde(default)]
    rotate_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    rotate_seconds: Option<u64>,
    #[serde(default)]
    keep: Option<Spanned<usize>>,
}

/// The log of `raw`; an error at the line of what cannot work: a relative path, a directory
/// that does not exist, a rotation size under one page, no rotated file kept.
pub(super) fn build(
    raw: &RawMessageLog,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<MessageLogConfig> {
    let refuse = |errors: &mut Vec<ConfigError>, at: usize, why: String| {
        errors.push(l.at(at, ConfigErrorKind::MessageLog(why)));
    };
    let file = PathBuf::from(raw.file.get_ref());
    let at_file = raw.file.span().start;
    if !file.is_absolute() {
        refuse(
            errors,
            at_file,
            format!("{}: not an absolute path", file.display()),
        );
        return None;
    }
    let dir = file.parent().filter(|d| d.is_dir());
    if dir.is_none() || file.is_dir() {
        refuse(
            errors,
            at_file,
            format!("{}: no such directory to write it in", file.display()),
        );
        return None;
    }
    let rotate_bytes = match &raw.rotate_bytes {
        Some(b) if (1..MIN_ROTATE_BYTES).contains(b.get_ref()) => {
            let why = format!(
                "rotate_bytes {} must be 0 (never) or at least {MIN_ROTATE_BYTES}",
                b.get_ref()
            );
            refuse(errors, b.span().start, why);
            return None;
        }
        Some(b) => *b.get_ref(),
        None => DEFAULT_ROTATE_BYTES,
    };
    let keep = match &raw.keep {
        Some(k) if *k.get_ref() == 0 => {
            refuse(errors, k.span().start, "keep must be at least 1".into());
            return None;
        }
        Some(k) => *k.get_ref(),
        None => DEFAULT_KEEP,
    };
    Some(MessageLogConfig {
        file,
        rotate_bytes,
        rotate_seconds: raw
            .rotate_seconds
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        keep,
    })
}

/// The error for a neighbour (`table`) whose log file is another neighbour's already: two
/// writers on one file would interleave and rotate it under each other.
pub(super) fn shared<T>(
    config: &NeighborConfig,
    others: &[NeighborConfig],
    table: &Spanned<T>,
    l: &Locator<'_>,
) -> Option<ConfigError> {
    let file = &config.message_log.as_ref()?.file;
    let other = others
        .iter()
        .find(|o| o.message_log.as_ref().is_some_and(|m| &m.file == file))?;
    let why = format!(
        "{} is the message log of neighbor {} already",
        file.display(),
        other.address
    );
    Some(l.error(table, ConfigErrorKind::MessageLog(why)))
}

/// The error for a `message_log` in a `[[dynamic_neighbor]]`: every neighbour of the range
/// would write the one file.
pub(super) fn in_dynamic<T>(table: &Spanned<T>, l: &Locator<'_>) -> ConfigError {
    let why = "not for a [[dynamic_neighbor]]: its neighbours would share one file".to_string();
    l.error(table, ConfigErrorKind::MessageLog(why))
}
