//! `speakerd`, the BGP speaker daemon, as a library: the sans-IO control core
//! ([`control`]) and the messages it exchanges with the shell ([`msg`]) for tests that drive
//! it on a virtual clock, and the daemon and tools the `speakerd` binary runs. The task and
//! thread diagram is at the top of [`daemon`].

mod admin;
mod backlog;
mod bfd_task;
mod bmp;
pub mod check;
pub mod client;
pub mod config;
pub mod control;
mod control_task;
pub mod crd;
pub mod daemon;
pub mod decode;
mod fib;
pub mod init;
mod kubernetes;
pub mod message_log;
pub mod metrics;
pub mod mrt_dump;
pub mod msg;
mod peer_task;
pub mod sockopt;
pub mod top;
mod transport;
