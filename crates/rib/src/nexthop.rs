//! The forwarding next hops in use, interned: every attribute set names its next hop by a
//! 4-byte [`HopId`] and every path carries that id, so that deciding a prefix with one path and
//! listing a selection's next hops read the path alone, not its attribute set. Each hop keeps
//! its reachability and IGP cost as last reported ([`crate::Rib::set_next_hop`]).

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::intern::Interner;
use crate::rib::ForwardingNextHop;

/// A handle to an interned forwarding next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HopId(u32);

/// The interned next hops, each with its IGP cost (`None`: unreachable).
#[derive(Debug, Default)]
pub(crate) struct NextHopTable {
    hops: Interner<ForwardingNextHop>,
    /// The cost of each live slot of `hops`.
    costs: Vec<Option<u32>>,
    /// The reachability reported for each address: its IGP cost.
    reported: FxHashMap<IpAddr, u32>,
    /// Whether a next hop nobody reported is unreachable (otherwise it costs 0).
    require_resolution: bool,
}

impl NextHopTable {
    /// An empty table; `require_resolution` makes unreported next hops unreachable.
    pub(crate) fn new(require_resolution: bool) -> Self {
        Self {
            require_resolution,
            ..Self::default()
        }
    }

    /// One more reference to `hop`, adding it (with its cost as reported) if new.
    pub(crate) fn intern(&mut self, hop: ForwardingNextHop) -> HopId {
        let (slot, new) = self.hops.intern(hop);
        if new {
            let index = slot as usize;
            if self.costs.len() <= index {
                self.costs.resize(index + 1, None);
            }
            self.costs[index] = self.cost_of(hop.address);
        }
        HopId(slot)
    }

    /// Drops a reference; the last one frees the hop.
    pub(crate) fn release(&mut self, id: HopId) {
        self.hops.release(id.0);
    }

    /// A live hop.
    pub(crate) fn get(&self, id: HopId) -> &ForwardingNextHop {
        self.hops.get(id.0)
    }

    /// The IGP cost of a live hop, `None` when it is unreachable.
    pub(crate) fn cost(&self, id: HopId) -> Option<u32> {
        self.costs[id.0 as usize]
    }

    /// Records the reachability of `address` (`None`: unreachable) for the hops with that
    /// address, now and later.
    pub(crate) fn report(&mut self, address: IpAddr, cost: Option<u32>) {
        match cost {
            Some(c) => self.reported.insert(address, c),
            None => self.reported.remove(&address),
        };
        let cost = self.cost_of(address);
        for (slot, hop) in self.hops.iter() {
            if hop.address == address {
                self.costs[slot as usize] = cost;
            }
        }
    }

    /// How many distinct hops are alive.
    pub(crate) fn len(&self) -> usize {
        self.hops.len()
    }

    fn cost_of(&self, address: IpAddr) -> Option<u32> {
        match self.reported.get(&address) {
            Some(cost) => Some(*cost),
            None if self.require_resolution => None,
            None => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(address: &str) -> ForwardingNextHop {
        ForwardingNextHop {
            address: address.parse().unwrap(),
            link_local: None,
        }
    }

    #[test]
    fn reports_reach_existing_and_later_hops() {
        let mut table = NextHopTable::new(true);
        let a = table.intern(hop("192.0.2.1"));
        assert_eq!(table.cost(a), None, "unreported and resolution required");
        table.report("192.0.2.1".parse().unwrap(), Some(7));
        assert_eq!(table.cost(a), Some(7));
        let b = table.intern(hop("192.0.2.2"));
        table.report("192.0.2.2".parse().unwrap(), Some(3));
        table.release(b);
        let again = table.intern(hop("192.0.2.2"));
        assert_eq!(
            table.cost(again),
            Some(3),
            "a new hop takes the reported cost"
        );
        table.report("192.0.2.1".parse().unwrap(), None);
        assert_eq!(table.cost(a), None);
        assert_eq!(table.get(a), &hop("192.0.2.1"));
        let mut lenient = NextHopTable::new(false);
        let c = lenient.intern(hop("192.0.2.3"));
        assert_eq!(
            lenient.cost(c),
            Some(0),
            "unreported costs 0 without resolution"
        );
    }
}
