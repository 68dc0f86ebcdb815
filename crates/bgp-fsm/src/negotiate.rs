//! Building our OPEN and checking the peer's (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 4760,
//! RFC 7911, RFC 4724), and what the two sides agreed on.

use std::net::Ipv4Addr;

use bgp_proto::capability::{
    ExtendedNextHopFamily, GracefulRestart, GracefulRestartFamily, LongLivedGracefulRestartFamily,
};
use bgp_proto::open::AS_TRANS;
use bgp_proto::{Capability, Family, FamilySet, Open, OpenError, SessionContext};
use bytes::{BufMut, BytesMut};

use crate::config::SessionConfig;

/// What a session negotiated with its peer, handed to the RIB when it becomes Established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS number.
    pub peer_as: u32,
    /// The peer's BGP Identifier.
    pub peer_id: Ipv4Addr,
    /// The peer is in our AS.
    pub ibgp: bool,
    /// The negotiated hold time in seconds (0: no keepalives, no hold timer).
    pub hold_time: u16,
    /// The keepalive interval in seconds (0 when the hold time is 0).
    pub keepalive_time: u16,
    /// The families both sides advertised (RFC 4760 §8).
    pub families: Vec<Family>,
    /// The wire format of the session: AS number width, ADD-PATH per family and direction,
    /// extended messages.
    pub context: SessionContext,
    /// Both sides support route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Both sides support enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Next hop encodings both sides support (RFC 8950).
    pub extended_next_hop: Vec<ExtendedNextHopFamily>,
    /// The peer's graceful restart capability, when it sent one (RFC 4724 §3).
    pub peer_graceful_restart: Option<GracefulRestart>,
    /// Both sides set the N bit (RFC 8538): graceful restart applies to NOTIFICATIONs too.
    pub graceful_notification: bool,
    /// The families of the peer's Long-Lived Graceful Restart capability that this session
    /// negotiated (RFC 9494 §3.1); empty without the capability, when the peer sent no
    /// Graceful Restart capability beside it (§4.1: then it is ignored), and when we do not
    /// offer long-lived graceful restart ourselves (§5: it is never on unless configured).
    pub peer_long_lived: Vec<LongLivedGracefulRestartFamily>,
    /// The peer's OPEN as received.
    pub peer_open: Open,
}

impl Negotiated {
    /// The families for which the peer asks us to keep its routes across a restart: those of its
    /// graceful restart capability that this session also negotiated.
    pub fn graceful_restart_families(&self) -> Vec<Family> {
        self.peer_graceful_restart
            .iter()
            .flat_map(|gr| gr.families.iter().map(|f| f.family))
            .filter(|f| self.families.contains(f))
            .collect()
    }
}

/// Our OPEN for this configuration.
pub(crate) fn local_open(config: &SessionConfig) -> Open {
    let mut caps: Vec<Capability> = config
        .families
        .iter()
        .map(|f| Capability::Multiprotocol(*f))
        .collect();
    if config.route_refresh {
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
    }
    if config.extended_message {
        caps.push(Capability::ExtendedMessage);
    }
    if !config.extended_next_hop.is_empty() {
        caps.push(Capability::ExtendedNextHop(
            config.extended_next_hop.clone(),
        ));
    }
    if let Some(gr) = &config.graceful_restart {
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_state: gr.restarting,
            notification: gr.notification,
            restart_time: gr.restart_time.min(0x0fff),
            families: config
                .families
                .iter()
                .map(|f| GracefulRestartFamily {
                    family: *f,
                    forwarding_preserved: gr.forwarding_preserved,
                })
                .collect(),
        }));
        // RFC 9494 §4.1: sent only beside the Graceful Restart capability.
        if let Some(stale_time) = gr.long_lived_stale_time {
            caps.push(Capability::LongLivedGracefulRestart(
                config
                    .families
                    .iter()
                    .map(|f| LongLivedGracefulRestartFamily {
                        family: *f,
                        forwarding_preserved: gr.forwarding_preserved,
                        stale_time: stale_time.min(0x00ff_ffff),
                    })
                    .collect(),
            ));
        }
    }
    if !config.add_path.is_empty() {
        caps.push(Capability::AddPath(config.add_path.clone()));
    }
    Open::new(config.local_as, config.hold_time, config.local_id, caps)
}

/// Checks the peer's OPEN against our configuration and our OPEN; the error names the
/// NOTIFICATION to send (RFC 4271 §6.2).
pub(crate) fn negotiate(
    config: &SessionConfig,
    ours: &Open,
    theirs: Open,
) -> Result<Negotiated, OpenError> {
    let peer_as = theirs.asn();
    // RFC 6793 §4.1: a 2-octet speaker in a 4-octet AS would show AS_TRANS without the capability;
    // it cannot be the AS we expect.
    if let Some(expected) = config.peer_as {
        if peer_as != expected {
            return Err(OpenError::BadPeerAs(peer_as));
        }
    } else if !theirs.four_octet_as() && theirs.my_as == AS_TRANS {
        return Err(OpenError::BadPeerAs(peer_as));
    }
    let ibgp = peer_as == config.local_as;

    if theirs.hold_time != 0 && theirs.hold_time < config.min_hold_time.max(3) {
        return Err(OpenError::UnacceptableHoldTime(theirs.hold_time));
    }
    // RFC 6286 §2.2: zero is never valid; inside an AS the identifiers must differ.
    if theirs.bgp_id.is_unspecified() || (ibgp && theirs.bgp_id == config.local_id) {
        return Err(OpenError::BadBgpIdentifier(theirs.bgp_id));
    }

    let their_families = theirs.families();
    let families: Vec<Family> = ours
        .families()
        .into_iter()
        .filter(|f| their_families.contains(f))
        .collect();
    let missing: Vec<Family> = if config.required_families.is_empty() {
        if families.is_empty() {
            ours.families()
        } else {
            Vec::new()
        }
    } else {
        config
            .required_families
            .iter()
            .filter(|f| !families.contains(f))
            .copied()
            .collect()
    };
    if !missing.is_empty() {
        // RFC 5492 §5: the data lists the capabilities we wanted.
        let mut data = BytesMut::new();
        for f in &missing {
            Capability::Multiprotocol(*f).encode(&mut data);
        }
        return Err(OpenError::UnsupportedCapability(data.freeze()));
    }

    let hold_time = config.hold_time.min(theirs.hold_time);
    let keepalive_time = if hold_time == 0 {
        0
    } else {
        config
            .keepalive_time
            .map_or(hold_time / 3, |k| k.min(hold_time / 3).max(1))
    };

    let has = |open: &Open, pred: &dyn Fn(&Capability) -> bool| open.capabilities.iter().any(pred);
    let route_refresh = has(ours, &|c| matches!(c, Capability::RouteRefresh))
        && has(&theirs, &|c| {
            matches!(c, Capability::RouteRefresh | Capability::RouteRefreshLegacy)
        });
    let enhanced_route_refresh = has(ours, &|c| matches!(c, Capability::EnhancedRouteRefresh))
        && has(&theirs, &|c| matches!(c, Capability::EnhancedRouteRefresh));
    let extended_message = ours.extended_message() && theirs.extended_message();
    let four_octet_as = theirs.four_octet_as();

    // RFC 7911 §4, in the negotiated families only.
    let in_families = |set: FamilySet| {
        let mut kept = FamilySet::EMPTY;
        for f in families.iter().filter(|f| set.contains(**f)) {
            kept.insert(*f);
        }
        kept
    };
    let add_path_rx = in_families(SessionContext::of_opens(&theirs, ours).add_path_rx);
    let add_path_tx = in_families(SessionContext::of_opens(ours, &theirs).add_path_rx);

    let ext_nh_of = |open: &Open| -> Vec<ExtendedNextHopFamily> {
        open.capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::ExtendedNextHop(v) => Some(v.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let their_nh = ext_nh_of(&theirs);
    let extended_next_hop = ext_nh_of(ours)
        .into_iter()
        .filter(|e| their_nh.contains(e))
        .collect();

    let peer_graceful_restart = theirs.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart(gr) => Some(gr.clone()),
        _ => None,
    });
    // RFC 9494 §5: the procedures need configuring (ours offers the capability); §4.1: the
    // peer's capability counts only beside its Graceful Restart capability.
    let we_offer_long_lived = config
        .graceful_restart
        .as_ref()
        .is_some_and(|g| g.long_lived_stale_time.is_some());
    let peer_long_lived = if we_offer_long_lived && peer_graceful_restart.is_some() {
        theirs
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::LongLivedGracefulRestart(v) => Some(v),
                _ => None,
            })
            .flatten()
            .filter(|f| families.contains(&f.family))
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    let our_n_bit = config
        .graceful_restart
        .as_ref()
        .is_some_and(|g| g.notification);
    let graceful_notification = our_n_bit
        && peer_graceful_restart
            .as_ref()
            .is_some_and(|g| g.notification);

    Ok(Negotiated {
        peer_as,
        peer_id: theirs.bgp_id,
        ibgp,
        hold_time,
        keepalive_time,
        families,
        context: SessionContext {
            four_octet_as,
            extended_message,
            ibgp,
            add_path_rx,
            add_path_tx,
        },
        route_refresh,
        enhanced_route_refresh,
        extended_next_hop,
        peer_graceful_restart,
        graceful_notification,
        peer_long_lived,
        peer_open: theirs,
    })
}

/// The Cease 6/1 data of RFC 4486 §4: AFI, SAFI and the limit.
pub(crate) fn max_prefix_data(family: Family, limit: u32) -> bytes::Bytes {
    let mut data = BytesMut::with_capacity(7);
    data.put_u16(family.afi.0);
    data.put_u8(family.safi.0);
    data.put_u32(limit);
    data.freeze()
}
