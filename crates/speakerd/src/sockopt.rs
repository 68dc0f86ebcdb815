//! The socket options the standard crates do not wrap: TCP MD5 signatures (RFC 2385,
//! `TCP_MD5SIG`), the probe for TCP-AO (RFC 5925, `TCP_AO_ADD_KEY`), the minimum received TTL of GTSM (RFC 5082, `IP_MINTTL` /
//! `IPV6_MINHOPCOUNT`) and a netlink receive buffer beyond `rmem_max` (`SO_RCVBUFFORCE`); and
//! the interface addresses of `getifaddrs(3)`, for the next hop of the other family on a
//! session; SIGPIPE's default action for the command-line tools; `recvmsg` with the received
//! TTL or hop limit, for BFD (RFC 5881 §5). This is the daemon's only unsafe code: `setsockopt` calls on a file descriptor the
//! caller owns, with buffers that outlive the call, and the walk of the list `getifaddrs`
//! returns, freed after it.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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

/// `TCP_AO_ADD_KEY` of linux/tcp.h (Linux 6.7): adds a TCP-AO key (RFC 5925) to a socket.
const TCP_AO_ADD_KEY: libc::c_int = 38;

/// The size of `struct tcp_ao_add` of linux/tcp.h, the value `TCP_AO_ADD_KEY` takes.
const TCP_AO_ADD_LEN: usize = 288;

/// The longest TCP-AO key the kernel takes (`TCP_AO_MAXKEYLEN`).
pub const MAX_TCP_AO_KEY_LEN: usize = 80;

/// Whether the kernel has TCP-AO (RFC 5925): `TCP_AO_ADD_KEY` with an all-zero (invalid) key
/// on a fresh TCP socket fails with ENOPROTOOPT where the option does not exist (a kernel
/// before 6.7 or without CONFIG_TCP_AO) and with another error (EINVAL) where it does.
pub fn tcp_ao_supported() -> io::Result<bool> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    match setsockopt(
        &socket,
        libc::IPPROTO_TCP,
        TCP_AO_ADD_KEY,
        &[0u8; TCP_AO_ADD_LEN],
    ) {
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(false),
        _ => Ok(true),
    }
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

/// Every address of every interface: (interface name, address), IPv4 and IPv6 only.
fn interface_addresses() -> io::Result<Vec<(Vec<u8>, IpAddr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: on success `head` points to a list that stays valid until `freeifaddrs`.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut node = head;
    while !node.is_null() {
        // SAFETY: `node` is a node of the list, not yet freed.
        let ifa = unsafe { &*node };
        node = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a non-null `ifa_addr` points to a socket address whose family says its
        // type; `ifa_name` to a NUL-terminated name. Both live as long as the list.
        let (family, name) = unsafe {
            (
                i32::from((*ifa.ifa_addr).sa_family),
                CStr::from_ptr(ifa.ifa_name).to_bytes().to_vec(),
            )
        };
        let address = match family {
            libc::AF_INET => {
                // SAFETY: an AF_INET address is a `sockaddr_in`.
                let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            libc::AF_INET6 => {
                // SAFETY: an AF_INET6 address is a `sockaddr_in6`.
                let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        found.push((name, address));
    }
    // SAFETY: `head` came from `getifaddrs` and nothing refers to the list any more.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

/// Our address of the other family on the interface that holds `local` (a session's local
/// address): the next hop for routes of that family on the session (RFC 2545 §3 for IPv6: a
/// global address, never a link-local one alone). `None` when the interface has none or the
/// addresses cannot be read.
pub fn other_family_address(local: IpAddr) -> Option<IpAddr> {
    choose_other_family(local, &interface_addresses().ok()?)
}

fn choose_other_family(local: IpAddr, addresses: &[(Vec<u8>, IpAddr)]) -> Option<IpAddr> {
    let (interface, _) = addresses.iter().find(|(_, a)| *a == local)?;
    addresses
        .iter()
        .filter(|(name, _)| name == interface)
        .map(|(_, a)| *a)
        .find(|a| match a {
            IpAddr::V4(v4) => local.is_ipv6() && !v4.is_unspecified(),
            IpAddr::V6(v6) => {
                local.is_ipv4() && !v6.is_unspecified() && !v6.is_unicast_link_local()
            }
        })
}

/// Gives SIGPIPE its default action again (Rust's runtime ignores it): a command-line tool
/// whose reader has gone (`speakerd show routes | head`) ends at once, silently, as Unix tools
/// do, instead of failing on its next write. Never for the daemon, whose sockets must see
/// `EPIPE` as an error instead.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler and touches no
    // memory; it is done before any other thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Asks the kernel to report each datagram's TTL (`IP_RECVTTL`) or hop limit
/// (`IPV6_RECVHOPLIMIT`) to [`recv_with_ttl`].
pub fn set_receive_ttl(socket: &impl AsRawFd, ipv4: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    if ipv4 {
        setsockopt(socket, libc::IPPROTO_IP, libc::IP_RECVTTL, &on)
    } else {
        setsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)
    }
}

/// Receives one datagram without blocking: its length, its source and the TTL or hop limit it
/// arrived with (`None` when the kernel did not report one; see [`set_receive_ttl`]).
pub fn recv_with_ttl(
    socket: &impl AsRawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    let mut source: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut source as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>();
    // SAFETY: every pointer in `msg` points at a live local buffer of the stated length.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ttl = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within
    // `msg_controllen`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let level = (*cmsg).cmsg_level;
            let kind = (*cmsg).cmsg_type;
            if (level == libc::IPPROTO_IP && kind == libc::IP_TTL)
                || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_HOPLIMIT)
            {
                let value = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                ttl = u8::try_from(value).ok();
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let source = match libc::c_int::from(source.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for an AF_INET source.
            let a: libc::sockaddr_in =
                unsafe { std::ptr::read((&source as *const libc::sockaddr_storage).cast()) };
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))),
                u16::from_be(a.sin_port),
            )
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for an AF_INET6 source.
            let a: libc::sockaddr_in6 =
                unsafe { std::ptr::read((&source as *const libc::sockaddr_storage).cast()) };
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)),
                u16::from_be(a.sin6_port),
            )
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "datagram without an IP source",
            ))
        }
    };
    Ok((n as usize, source, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TTL a datagram was sent with comes back from `recv_with_ttl` (RFC 5881 §5 needs it).
    #[test]
    fn received_ttl_is_reported() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        set_receive_ttl(&receiver, true).unwrap();
        for ttl in [7u32, 255] {
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sender.set_ttl(ttl).unwrap();
            sender
                .send_to(b"bfd", receiver.local_addr().unwrap())
                .unwrap();
            let mut buf = [0u8; 16];
            let got = loop {
                match recv_with_ttl(&receiver, &mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    other => break other.unwrap(),
                }
            };
            assert_eq!(&buf[..got.0], b"bfd");
            assert_eq!(got.1, sender.local_addr().unwrap());
            assert_eq!(got.2, Some(ttl as u8));
        }
    }

    fn table() -> Vec<(Vec<u8>, IpAddr)> {
        [
            ("lo", "127.0.0.1"),
            ("lo", "::1"),
            ("eth0", "fe80::1"),
            ("eth0", "198.18.0.1"),
            ("eth0", "2001:db8::1"),
            ("eth1", "198.18.1.1"),
            ("eth1", "fe80::2"),
        ]
        .iter()
        .map(|(n, a)| (n.as_bytes().to_vec(), a.parse().unwrap()))
        .collect()
    }

    #[test]
    fn the_other_family_comes_from_the_same_interface_and_is_never_link_local() {
        let t = table();
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            choose_other_family(v4("198.18.0.1"), &t),
            Some(v4("2001:db8::1"))
        );
        assert_eq!(
            choose_other_family(v4("2001:db8::1"), &t),
            Some(v4("198.18.0.1"))
        );
        assert_eq!(
            choose_other_family(v4("198.18.1.1"), &t),
            None,
            "only a link-local address there"
        );
        assert_eq!(choose_other_family(v4("198.18.9.9"), &t), None);
    }

    #[test]
    fn the_machine_has_a_loopback_interface() {
        let all = interface_addresses().expect("getifaddrs");
        assert!(all.iter().any(|(_, a)| a.is_loopback()), "{all:?}");
    }
}
