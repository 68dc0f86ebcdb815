//! `tcp_ao`: the TCP Authentication Option (RFC 5925) for a neighbour's session. It fails
//! closed: a neighbour configured with it is refused (by `speakerd check`, by `speakerd run`,
//! which then starts nothing, and by a reload, which keeps the configuration in force) with the
//! reason, and is never run without authentication. speakerd does not program TCP-AO keys
//! (Linux's `TCP_AO_ADD_KEY` and friends, Linux 6.7 and later); where the kernel has no TCP-AO
//! at all the error says so, as the first thing an operator has to fix.

use super::raw::RawTcpAo;
use super::validate::Locator;
use super::{ConfigError, ConfigErrorKind};
use crate::sockopt::{self, MAX_TCP_AO_KEY_LEN};
use toml::Spanned;

/// Why the neighbour's `tcp_ao` cannot be used, as an error at the line that names the reason:
/// the key file (unreadable, empty or longer than the kernel takes), an MD5 password beside it
/// (RFC 5925 obsoletes TCP MD5, RFC 2385: one connection uses one or the other), or the
/// kernel (no TCP-AO, or TCP-AO that speakerd does not program).
pub(super) fn refusal(ao: &Spanned<RawTcpAo>, md5_too: bool, l: &Locator<'_>) -> ConfigError {
    let key = &ao.get_ref().key_file;
    let error = |at: usize, why: String| l.at(at, ConfigErrorKind::TcpAo(why));
    let (at_key, at_ao) = (key.span().start, ao.span().start);
    match std::fs::read(key.get_ref()) {
        Err(e) => return error(at_key, format!("{}: {e}", key.get_ref())),
        Ok(k) if k.is_empty() => return error(at_key, format!("{}: empty key", key.get_ref())),
        Ok(k) if k.len() > MAX_TCP_AO_KEY_LEN => {
            return error(
                at_key,
                format!(
                    "{}: key of {} octets, at most {MAX_TCP_AO_KEY_LEN}",
                    key.get_ref(),
                    k.len()
                ),
            )
        }
        Ok(_) => {}
    }
    if md5_too {
        return error(
            at_ao,
            "not together with password_file/password_env (TCP MD5): a connection uses one".into(),
        );
    }
    let ids = format!(
        "SendID {}, RecvID {}",
        ao.get_ref().send_id,
        ao.get_ref().recv_id
    );
    let why = match sockopt::tcp_ao_supported() {
        Ok(false) => format!(
            "this kernel has no TCP-AO (setsockopt TCP_AO_ADD_KEY: ENOPROTOOPT; \
             Linux 6.7 or later built with CONFIG_TCP_AO has it): the neighbour (key \
             {ids}) is refused, not run without authentication"
        ),
        Ok(true) => format!(
            "speakerd does not program TCP-AO keys yet, though this kernel has TCP-AO: the \
             neighbour (key {ids}) is refused, not run without authentication"
        ),
        Err(e) => format!(
            "cannot probe the kernel for TCP-AO ({e}): the neighbour is refused, not run \
             without authentication"
        ),
    };
    error(at_ao, why)
}
