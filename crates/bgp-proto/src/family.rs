//! Address families (RFC 4760 §3: AFI and SAFI) and the small sets of them a session negotiates.

use std::fmt;

/// Address Family Identifier (RFC 4760 §3, IANA "Address Family Numbers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4 (AFI 1).
    pub const IPV4: Afi = Afi(1);
    /// IPv6 (AFI 2).
    pub const IPV6: Afi = Afi(2);
}

/// Subsequent Address Family Identifier (RFC 4760 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast forwarding (SAFI 1).
    pub const UNICAST: Safi = Safi(1);
    /// Multicast RPF (SAFI 2).
    pub const MULTICAST: Safi = Safi(2);
}

/// An (AFI, SAFI) pair: what a multiprotocol capability, MP_REACH_NLRI or ROUTE-REFRESH names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    /// The address family.
    pub afi: Afi,
    /// The subsequent address family.
    pub safi: Safi,
}

impl Family {
    /// IPv4 unicast, the family RFC 4271 carries without MP attributes.
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    /// IPv6 unicast (RFC 2545, RFC 4760).
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    /// IPv4 multicast.
    pub const IPV4_MULTICAST: Family = Family::new(Afi::IPV4, Safi::MULTICAST);
    /// IPv6 multicast.
    pub const IPV6_MULTICAST: Family = Family::new(Afi::IPV6, Safi::MULTICAST);

    /// The family of this AFI and SAFI.
    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Self { afi, safi }
    }

    /// Whether this codec decodes NLRI of this family into prefixes (IP unicast and multicast);
    /// MP attributes of other families are kept as raw attributes.
    pub fn has_ip_prefixes(self) -> bool {
        self.bit().is_some()
    }

    fn bit(self) -> Option<u8> {
        match (self.afi, self.safi) {
            (Afi::IPV4, Safi::UNICAST) => Some(1),
            (Afi::IPV6, Safi::UNICAST) => Some(2),
            (Afi::IPV4, Safi::MULTICAST) => Some(4),
            (Afi::IPV6, Safi::MULTICAST) => Some(8),
            _ => None,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let afi = match self.afi {
            Afi::IPV4 => "ipv4".to_string(),
            Afi::IPV6 => "ipv6".to_string(),
            Afi(other) => format!("afi{other}"),
        };
        let safi = match self.safi {
            Safi::UNICAST => "unicast".to_string(),
            Safi::MULTICAST => "multicast".to_string(),
            Safi(other) => format!("safi{other}"),
        };
        write!(f, "{afi}-{safi}")
    }
}

/// A set of the IP families whose NLRI this codec decodes; used for the per-family, per-direction
/// ADD-PATH state of a session (RFC 7911 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FamilySet(u8);

impl FamilySet {
    /// The empty set.
    pub const EMPTY: FamilySet = FamilySet(0);

    /// Adds a family; families this codec does not decode into prefixes are ignored.
    pub fn insert(&mut self, family: Family) {
        if let Some(bit) = family.bit() {
            self.0 |= bit;
        }
    }

    /// Whether the set holds this family.
    pub fn contains(self, family: Family) -> bool {
        family.bit().is_some_and(|bit| self.0 & bit != 0)
    }

    /// The set holding exactly these families.
    pub fn of(families: &[Family]) -> Self {
        let mut set = Self::EMPTY;
        for family in families {
            set.insert(*family);
        }
        set
    }
}
