//! `[[bmp]]`: the BMP collectors (RFC 7854) speakerd connects to (docs/config.md, the design
//! in docs/adr/0018-bmp-export.md).

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::validate::{collect, Locator};
use super::{ConfigError, ConfigErrorKind};

/// The default interval of Statistics Reports (RFC 7854 §4.8).
pub const DEFAULT_STATISTICS_INTERVAL: Duration = Duration::from_secs(60);

/// The default number of messages queued for a collector before it counts as behind.
pub const DEFAULT_QUEUE: usize = 8192;

/// A BMP collector: speakerd is the active party and connects to it (RFC 7854 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmpConfig {
    /// The collector's address.
    pub address: IpAddr,
    /// Its TCP port (RFC 7854 assigns none; OpenBMP uses 5000, pmacct 1790).
    pub port: u16,
    /// How often Statistics Reports are sent for each Established neighbour (RFC 7854 §4.8);
    /// zero sends none.
    pub statistics_interval: Duration,
    /// Messages queued for the collector at most: one that falls this far behind is
    /// disconnected, what it missed is counted as dropped, and it is sent the whole state
    /// again when it is back (RFC 7854 §5).
    pub queue: usize,
}

/// A `[[bmp]]` table as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBmp {
    address: Spanned<String>,
    port: Spanned<u16>,
    #[serde(default)]
    statistics_interval: Option<u64>,
    #[serde(default)]
    queue: Option<Spanned<usize>>,
}

/// The collectors of the `[[bmp]]` tables; errors with their lines.
pub(super) fn build_bmp(
    raw: &[RawBmp],
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<BmpConfig> {
    raw.iter()
        .filter_map(|b| {
            let address = collect(
                errors,
                l.parse::<IpAddr>(&b.address, ConfigErrorKind::Address),
            );
            if *b.port.get_ref() == 0 {
                errors.push(l.error(
                    &b.port,
                    ConfigErrorKind::Syntax("bmp port must not be 0".into()),
                ));
                return None;
            }
            let queue = match &b.queue {
                Some(q) if *q.get_ref() == 0 => {
                    errors.push(l.error(
                        q,
                        ConfigErrorKind::Syntax("bmp queue must be at least 1 message".into()),
                    ));
                    return None;
                }
                Some(q) => *q.get_ref(),
                None => DEFAULT_QUEUE,
            };
            Some(BmpConfig {
                address: address?,
                port: *b.port.get_ref(),
                statistics_interval: b
                    .statistics_interval
                    .map_or(DEFAULT_STATISTICS_INTERVAL, Duration::from_secs),
                queue,
            })
        })
        .collect()
}
