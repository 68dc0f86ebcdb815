//! Import and export policy: per-neighbour chains of named policies, each a list of terms with
//! matches and actions, in the manner of BIRD filters and FRR route-maps.
//!
//! A chain is evaluated policy by policy, term by term; the first term whose matches all hold
//! applies its actions and then its verdict: accept or reject ends the chain, `Next` goes on to
//! the next term. A route that reaches the end of the chain is rejected (RFC 8212 §3: nothing is
//! accepted or sent without a policy that says so).

use std::net::IpAddr;

use bgp_proto::{Community, ExtendedCommunity, Family, LargeCommunity, Prefix};

use crate::attrs::RouteAttrs;

/// A prefix with optional length bounds: matches routes inside `prefix` whose length is between
/// `ge` and `le` (both default to the prefix's own length, i.e. an exact match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixMatch {
    /// The covering prefix.
    pub prefix: Prefix,
    /// Shortest length matched.
    pub ge: Option<u8>,
    /// Longest length matched.
    pub le: Option<u8>,
}

impl PrefixMatch {
    /// Whether `candidate` matches.
    pub fn matches(&self, candidate: &Prefix) -> bool {
        let own = self.prefix.prefix_len();
        let (ge, le) = match (self.ge, self.le) {
            (None, None) => (own, own),
            (Some(ge), None) => (
                ge,
                if candidate.afi() == bgp_proto::Afi::IPV4 {
                    32
                } else {
                    128
                },
            ),
            (None, Some(le)) => (own, le),
            (Some(ge), Some(le)) => (ge, le),
        };
        let len = candidate.prefix_len();
        self.prefix.contains(candidate) && len >= ge && len <= le
    }
}

/// One condition of a term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// The prefix matches any entry of the list.
    PrefixList(Vec<PrefixMatch>),
    /// The route is of this family.
    Family(Family),
    /// The route carries this community.
    Community(Community),
    /// The route carries this large community.
    LargeCommunity(LargeCommunity),
    /// The route carries this extended community.
    ExtendedCommunity(ExtendedCommunity),
    /// The AS path contains this AS.
    AsPathContains(u32),
    /// The AS path length is within these bounds.
    AsPathLength {
        /// Shortest.
        min: u32,
        /// Longest.
        max: u32,
    },
    /// The route was originated by this AS.
    OriginAs(u32),
    /// The next hop lies in this prefix.
    NextHop(Prefix),
    /// The route was learned from (import) or is sent to (export) this neighbour address.
    Neighbor(IpAddr),
}

/// One change a term makes to a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetAction {
    /// Set LOCAL_PREF.
    LocalPref(u32),
    /// Set MULTI_EXIT_DISC.
    Med(u32),
    /// Set the next hop.
    NextHop(IpAddr),
    /// Add a community.
    AddCommunity(Community),
    /// Remove a community.
    RemoveCommunity(Community),
    /// Add a large community.
    AddLargeCommunity(LargeCommunity),
    /// Remove a large community.
    RemoveLargeCommunity(LargeCommunity),
    /// Prepend an AS (the local AS when `None`) this many times.
    Prepend {
        /// The AS to prepend.
        asn: Option<u32>,
        /// How many times.
        count: u8,
    },
}

/// What a matching term decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accept the route (with the actions applied).
    Accept,
    /// Reject the route.
    Reject,
    /// Apply the actions and go on with the next term.
    Next,
}

/// A named term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// Name, shown by `explain`.
    pub name: String,
    /// All must hold.
    pub matches: Vec<Match>,
    /// Applied in order when the term matches.
    pub actions: Vec<SetAction>,
    /// What happens then.
    pub verdict: Verdict,
    /// Accepting through this term lets a route cover the default route or a protected prefix
    /// (the guard of kube-router #584 is otherwise always on).
    pub allow_protected: bool,
}

/// A named policy: a list of terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// Terms, in order.
    pub terms: Vec<Term>,
}

impl Policy {
    /// A policy that accepts everything.
    pub fn accept_all(name: &str) -> Self {
        Self {
            name: name.to_string(),
            terms: vec![Term {
                name: "all".to_string(),
                matches: Vec::new(),
                actions: Vec::new(),
                verdict: Verdict::Accept,
                allow_protected: false,
            }],
        }
    }
}

/// The route a policy looks at and may change.
#[derive(Debug)]
pub struct PolicyRoute<'a> {
    /// The prefix.
    pub prefix: Prefix,
    /// The family.
    pub family: Family,
    /// The neighbour it came from (import) or goes to (export).
    pub neighbor: IpAddr,
    /// The attributes, changed in place by actions.
    pub attrs: &'a mut RouteAttrs,
    /// Our AS, for prepends.
    pub local_as: u32,
}

/// The outcome of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyResult {
    /// Accepted.
    pub accepted: bool,
    /// `policy/term` that decided, or `None` when the end of the chain rejected it.
    pub decided_by: Option<String>,
    /// The deciding term allows covering protected prefixes.
    pub allow_protected: bool,
}

fn term_matches(m: &Match, route: &PolicyRoute<'_>) -> bool {
    let attrs = &route.attrs.attrs;
    match m {
        Match::PrefixList(list) => list.iter().any(|p| p.matches(&route.prefix)),
        Match::Family(f) => route.family == *f,
        Match::Community(c) => attrs.communities.contains(c),
        Match::LargeCommunity(c) => attrs.large_communities.contains(c),
        Match::ExtendedCommunity(c) => attrs.extended_communities.contains(c),
        Match::AsPathContains(asn) => attrs.as_path.as_ref().is_some_and(|p| p.contains(*asn)),
        Match::AsPathLength { min, max } => {
            let len = route.attrs.as_path_len;
            len >= *min && len <= *max
        }
        Match::OriginAs(asn) => attrs.as_path.as_ref().and_then(|p| p.origin_as()) == Some(*asn),
        Match::NextHop(prefix) => Prefix::new(
            route.attrs.next_hop,
            if route.attrs.next_hop.is_ipv4() {
                32
            } else {
                128
            },
        )
        .is_ok_and(|nh| prefix.contains(&nh)),
        Match::Neighbor(addr) => route.neighbor == *addr,
    }
}

fn apply(action: &SetAction, route: &mut PolicyRoute<'_>) {
    let local_as = route.local_as;
    let attrs = &mut route.attrs.attrs;
    match action {
        SetAction::LocalPref(v) => attrs.local_pref = Some(*v),
        SetAction::Med(v) => attrs.med = Some(*v),
        SetAction::NextHop(addr) => {
            route.attrs.next_hop = *addr;
            route.attrs.link_local = None;
            if let IpAddr::V4(v4) = addr {
                if attrs.next_hop.is_some() {
                    attrs.next_hop = Some(*v4);
                }
            }
        }
        SetAction::AddCommunity(c) => {
            if !attrs.communities.contains(c) {
                attrs.communities.push(*c);
            }
        }
        SetAction::RemoveCommunity(c) => attrs.communities.retain(|x| x != c),
        SetAction::AddLargeCommunity(c) => {
            if !attrs.large_communities.contains(c) {
                attrs.large_communities.push(*c);
            }
        }
        SetAction::RemoveLargeCommunity(c) => attrs.large_communities.retain(|x| x != c),
        SetAction::Prepend { asn, count } => {
            attrs
                .as_path
                .get_or_insert_with(Default::default)
                .prepend(asn.unwrap_or(local_as), usize::from(*count));
        }
    }
}

/// Runs `route` through a chain of policies. The derived fields of the attributes are refreshed
/// when an action changed them.
pub fn evaluate(chain: &[std::sync::Arc<Policy>], route: &mut PolicyRoute<'_>) -> PolicyResult {
    let mut changed = false;
    let mut result = PolicyResult {
        accepted: false,
        decided_by: None,
        allow_protected: false,
    };
    'chain: for policy in chain {
        for term in &policy.terms {
            if !term.matches.iter().all(|m| term_matches(m, route)) {
                continue;
            }
            for action in &term.actions {
                apply(action, route);
                changed = true;
            }
            match term.verdict {
                Verdict::Next => continue,
                verdict => {
                    result = PolicyResult {
                        accepted: verdict == Verdict::Accept,
                        decided_by: Some(format!("{}/{}", policy.name, term.name)),
                        allow_protected: term.allow_protected,
                    };
                    break 'chain;
                }
            }
        }
    }
    if changed {
        let a = route.attrs.clone();
        *route.attrs = RouteAttrs::new(a.attrs, a.next_hop, a.link_local);
    }
    result
}
