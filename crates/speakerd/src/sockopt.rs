//! The socket options the standard crates do not wrap: TCP MD5 signatures (RFC 2385,
//! `TCP_MD5SIG`), the minimum received TTL of GTSM (RFC 5082, `IP_MINTTL` /
//! `IPV6_MINHOPCOUNT`) and a netlink receive buffer beyond `rmem_max` (`SO_RCVBUFFORCE`). This is
//! the daemon's only unsafe code: `setsockopt` calls on a file descriptor the caller owns, with
//! buffers that outlive the call.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// `struct tcp_md5sig` of linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// The longest key the kernel takes (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_MD5_KEY_LEN: usize = 80;

fn setsockopt<T>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live, initialised `T` for the duration of the call, and the
    // length passed is its exact size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets (or, with an empty key, removes) the MD5 key for segments to and from `peer`, on a
/// connecting or a listening socket.
pub fn set_md5_key(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MAX_MD5_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "MD5 key longer than 80 bytes",
        ));
    }
    let storage = socket2::SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: all-zero is a valid `sockaddr_storage` (AF_UNSPEC); the peer address is copied
    // over it from a `SockAddr` whose length is at most the storage's size.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = (storage.len() as usize).min(size_of::<libc::sockaddr_storage>());
    // SAFETY: both regions are valid for `len` bytes and do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            storage.as_ptr().cast::<u8>(),
            (&mut addr as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        );
    }
    let mut sig = TcpMd5Sig {
        addr,
        flags: 0,
        prefix_len: 0,
        key_len: key.len() as u16,
        ifindex: 0,
        key: [0; 80],
    };
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// Drops received packets whose TTL (hop limit) is below `min` (GTSM, RFC 5082 §3).
pub fn set_min_ttl(socket: &impl AsRawFd, ipv4: bool, min: u8) -> io::Result<()> {
    let value = libc::c_int::from(min);
    if ipv4 {
        setsockopt(socket, libc::IPPROTO_IP, libc::IP_MINTTL, &value)
    } else {
        setsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &value)
    }
}

/// Sets the receive buffer of `socket` to `bytes` even beyond `net.core.rmem_max`
/// (`SO_RCVBUFFORCE`, which needs CAP_NET_ADMIN).
pub fn set_receive_buffer_force(socket: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &bytes)
}
