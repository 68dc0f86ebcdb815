//! Our kernel nexthop objects: one per gateway and one group per distinct ECMP set, with
//! reference counts. A route holds one reference on the object of its gateway set (the
//! gateway's own object for a set of one, a group otherwise); a group holds one on each member.
//! An object whose last reference goes is deleted. The table only plans: it returns the
//! requests, and the FIB sends them in the right order (creations before the routes that use
//! them, deletions after).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

use super::netlink::{KernelMessage, Nexthop, NexthopKind};

/// The gateways of a route: sorted, without duplicates, one address family, not empty.
pub(crate) type GatewaySet = Vec<IpAddr>;

/// A request for the kernel and its `NLM_F_*` flags.
pub(crate) type Request = (KernelMessage, u16);

/// Flags that create an object and fail if its id is taken (by an object of someone else).
const CREATE: u16 = NLM_F_CREATE | NLM_F_EXCL;
/// Flags that put an object back as it should be, whether it is there or not.
pub(crate) const RESTORE: u16 = NLM_F_CREATE | NLM_F_REPLACE;

/// The object of one gateway.
struct GatewayObject {
    id: u32,
    oif: u32,
    refs: usize,
}

/// The object a gateway set's routes point at.
struct SetObject {
    id: u32,
    refs: usize,
    /// A group object of its own (a set of one gateway has one too when a group moved onto
    /// it, see [`Nexthops::moved`]); otherwise the set has one gateway and uses that object.
    group: bool,
}

/// What an id of ours is.
#[derive(Clone)]
enum Owner {
    Gateway(IpAddr),
    Group(GatewaySet),
}

/// Our nexthop objects in the kernel.
pub(crate) struct Nexthops {
    protocol: u8,
    next_id: u32,
    /// Ids of other owners' objects seen at start: never allocated.
    foreign: HashSet<u32>,
    gateways: HashMap<IpAddr, GatewayObject>,
    sets: HashMap<GatewaySet, SetObject>,
    by_id: HashMap<u32, Owner>,
    /// Our objects of a previous run that fit no gateway set: deleted with the leftover routes.
    stray: Vec<u32>,
}

impl Nexthops {
    /// The table, from a dump of every nexthop object in the kernel: ours (our protocol) are
    /// adopted with no references yet; groups whose members are not all our gateways are stray.
    pub(crate) fn from_kernel(protocol: u8, dump: impl IntoIterator<Item = Nexthop>) -> Self {
        let mut table = Self {
            protocol,
            // Our ids start at the protocol number times 2^24 (201: 0xc9000001), away from the
            // small ids people and other daemons pick.
            next_id: (u32::from(protocol) << 24) | 1,
            foreign: HashSet::new(),
            gateways: HashMap::new(),
            sets: HashMap::new(),
            by_id: HashMap::new(),
            stray: Vec::new(),
        };
        let mut groups = Vec::new();
        for n in dump {
            if n.protocol != protocol {
                table.foreign.insert(n.id);
                continue;
            }
            table.next_id = table.next_id.max(n.id.wrapping_add(1));
            match n.kind {
                NexthopKind::Gateway { address, oif } if !table.gateways.contains_key(&address) => {
                    table.gateways.insert(
                        address,
                        GatewayObject {
                            id: n.id,
                            oif,
                            refs: 0,
                        },
                    );
                    table.by_id.insert(n.id, Owner::Gateway(address));
                }
                NexthopKind::Group(members) => groups.push((n.id, members)),
                _ => table.stray.push(n.id),
            }
        }
        for (id, members) in groups {
            let addresses: Option<GatewaySet> = members
                .iter()
                .map(|m| match table.by_id.get(m) {
                    Some(Owner::Gateway(a)) => Some(*a),
                    _ => None,
                })
                .collect();
            match addresses {
                Some(mut set) if !set.is_empty() => {
                    set.sort();
                    set.dedup();
                    if table.sets.contains_key(&set) {
                        table.stray.push(id);
                        continue;
                    }
                    for a in &set {
                        if let Some(g) = table.gateways.get_mut(a) {
                            g.refs += 1;
                        }
                    }
                    table.by_id.insert(id, Owner::Group(set.clone()));
                    table.sets.insert(
                        set,
                        SetObject {
                            id,
                            refs: 0,
                            group: true,
                        },
                    );
                }
                _ => table.stray.push(id),
            }
        }
        table
    }

    fn allocate(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.foreign.contains(&id) && !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// The object id routes of `set` point at, when it exists.
    pub(crate) fn id_of(&self, set: &GatewaySet) -> Option<u32> {
        self.sets
            .get(set)
            .map(|s| s.id)
            .or_else(|| match set.as_slice() {
                [one] => self.gateways.get(one).map(|g| g.id),
                _ => None,
            })
    }

    /// The gateway set whose routes point at object `id`, if it is ours.
    pub(crate) fn set_of_id(&self, id: u32) -> Option<GatewaySet> {
        match self.by_id.get(&id)? {
            Owner::Gateway(a) => Some(vec![*a]),
            Owner::Group(set) => Some(set.clone()),
        }
    }

    /// The gateways of `set` that have no object yet.
    pub(crate) fn missing_gateways<'a>(
        &'a self,
        set: &'a GatewaySet,
    ) -> impl Iterator<Item = IpAddr> + 'a {
        set.iter()
            .copied()
            .filter(|a| !self.gateways.contains_key(a))
    }

    /// Adds the object of `gateway`, reached through interface `oif`; returns its creation.
    pub(crate) fn add_gateway(&mut self, gateway: IpAddr, oif: u32) -> Request {
        let id = self.allocate();
        self.gateways
            .insert(gateway, GatewayObject { id, oif, refs: 0 });
        self.by_id.insert(id, Owner::Gateway(gateway));
        (
            KernelMessage::NewNexthop(self.expected(id).unwrap_or(self.bare(id))),
            CREATE,
        )
    }

    /// Takes a reference on the object of `set` (whose gateways all have objects), creating
    /// its group if needed; returns the creation, if any.
    pub(crate) fn acquire(&mut self, set: &GatewaySet) -> Option<Request> {
        if let Some(s) = self.sets.get_mut(set) {
            s.refs += 1;
            return None;
        }
        for a in set {
            if let Some(g) = self.gateways.get_mut(a) {
                g.refs += 1;
            }
        }
        if let [one] = set.as_slice() {
            let id = self.gateways.get(one).map(|g| g.id)?;
            self.sets.insert(
                set.clone(),
                SetObject {
                    id,
                    refs: 1,
                    group: false,
                },
            );
            return None;
        }
        let id = self.allocate();
        self.by_id.insert(id, Owner::Group(set.clone()));
        self.sets.insert(
            set.clone(),
            SetObject {
                id,
                refs: 1,
                group: true,
            },
        );
        Some((KernelMessage::NewNexthop(self.expected(id)?), CREATE))
    }

    /// Whether the `routes` routes moving from `from` to `to` can take their group object
    /// along instead of being changed one by one: they are all of `from`'s routes, `from` has
    /// a group object of its own, and `to` has no object yet.
    pub(crate) fn can_move(&self, from: &GatewaySet, to: &GatewaySet, routes: usize) -> bool {
        from != to
            && !to.is_empty()
            && !self.sets.contains_key(to)
            && self
                .sets
                .get(from)
                .is_some_and(|s| s.group && s.refs == routes)
    }

    /// The request that changes `from`'s group object to hold the gateways of `to` (which all
    /// have objects), for [`Nexthops::moved`] once the kernel took it.
    pub(crate) fn move_request(&self, from: &GatewaySet, to: &GatewaySet) -> Option<Request> {
        let id = self.sets.get(from)?.id;
        let members = to
            .iter()
            .map(|a| self.gateways.get(a).map(|g| g.id))
            .collect::<Option<Vec<u32>>>()?;
        let group = Nexthop {
            id,
            protocol: self.protocol,
            kind: NexthopKind::Group(members),
        };
        Some((KernelMessage::NewNexthop(group), RESTORE))
    }

    /// The kernel changed `from`'s group object to `to`'s gateways: the object and its routes'
    /// references now belong to `to`. Returns the deletions of gateways no longer used.
    pub(crate) fn moved(&mut self, from: &GatewaySet, to: &GatewaySet) -> Vec<Request> {
        let mut out = Vec::new();
        let Some(object) = self.sets.remove(from) else {
            return out;
        };
        for a in to {
            if let Some(g) = self.gateways.get_mut(a) {
                g.refs += 1;
            }
        }
        self.by_id.insert(object.id, Owner::Group(to.clone()));
        self.sets.insert(to.clone(), object);
        for a in from {
            self.release_gateway(*a, &mut out);
        }
        out
    }

    /// Drops a reference on the object of `set`; returns the deletions of what is no longer
    /// used.
    pub(crate) fn release(&mut self, set: &GatewaySet) -> Vec<Request> {
        let mut out = Vec::new();
        let Some(s) = self.sets.get_mut(set) else {
            return out;
        };
        s.refs = s.refs.saturating_sub(1);
        if s.refs == 0 {
            self.drop_set(set, &mut out);
        }
        out
    }

    /// Forgets `set`'s object and releases its gateways.
    fn drop_set(&mut self, set: &GatewaySet, out: &mut Vec<Request>) {
        let Some(s) = self.sets.remove(set) else {
            return;
        };
        if s.group {
            self.by_id.remove(&s.id);
            out.push((KernelMessage::DelNexthop(self.bare(s.id)), 0));
        }
        for a in set {
            self.release_gateway(*a, out);
        }
    }

    fn release_gateway(&mut self, gateway: IpAddr, out: &mut Vec<Request>) {
        let Some(g) = self.gateways.get_mut(&gateway) else {
            return;
        };
        g.refs = g.refs.saturating_sub(1);
        if g.refs == 0 {
            let id = g.id;
            self.gateways.remove(&gateway);
            self.by_id.remove(&id);
            out.push((KernelMessage::DelNexthop(self.bare(id)), 0));
        }
    }

    /// The kernel refused to create object `id`: forget it (and, for a group, release its
    /// gateways); returns the deletions that follow.
    pub(crate) fn failed(&mut self, id: u32) -> Vec<Request> {
        let mut out = Vec::new();
        match self.by_id.remove(&id) {
            Some(Owner::Gateway(a)) => {
                self.gateways.remove(&a);
                self.sets.remove(&vec![a]);
            }
            Some(Owner::Group(set)) => self.drop_set(&set, &mut out),
            None => {}
        }
        out
    }

    /// Deletions of every object nothing references (after the leftover routes are counted).
    pub(crate) fn sweep(&mut self) -> Vec<Request> {
        let mut out = Vec::new();
        let unused: Vec<GatewaySet> = self
            .sets
            .iter()
            .filter(|(_, s)| s.refs == 0)
            .map(|(k, _)| k.clone())
            .collect();
        for set in unused {
            self.drop_set(&set, &mut out);
        }
        let idle: Vec<IpAddr> = self
            .gateways
            .iter()
            .filter(|(_, g)| g.refs == 0)
            .map(|(a, _)| *a)
            .collect();
        for a in idle {
            if let Some(g) = self.gateways.remove(&a) {
                self.by_id.remove(&g.id);
                out.push((KernelMessage::DelNexthop(self.bare(g.id)), 0));
            }
        }
        out
    }

    /// Deletions of the stray objects of a previous run.
    pub(crate) fn take_stray(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.stray)
            .into_iter()
            .map(|id| (KernelMessage::DelNexthop(self.bare(id)), 0))
            .collect()
    }

    /// Deletions of every object of ours, groups first; the table is empty afterwards.
    pub(crate) fn remove_all(&mut self) -> Vec<Request> {
        let mut ids: Vec<u32> = self
            .sets
            .values()
            .filter(|s| s.group)
            .map(|s| s.id)
            .collect();
        ids.extend(self.gateways.values().map(|g| g.id));
        ids.append(&mut self.stray);
        self.sets.clear();
        self.gateways.clear();
        self.by_id.clear();
        ids.into_iter()
            .map(|id| (KernelMessage::DelNexthop(self.bare(id)), 0))
            .collect()
    }

    /// A message naming object `id` only (for deletion).
    fn bare(&self, id: u32) -> Nexthop {
        Nexthop {
            id,
            protocol: 0,
            kind: NexthopKind::Other,
        }
    }

    /// Object `id` as it should be in the kernel, if it is ours.
    pub(crate) fn expected(&self, id: u32) -> Option<Nexthop> {
        let kind = match self.by_id.get(&id)? {
            Owner::Gateway(a) => NexthopKind::Gateway {
                address: *a,
                oif: self.gateways.get(a)?.oif,
            },
            Owner::Group(set) => NexthopKind::Group(
                set.iter()
                    .map(|a| self.gateways.get(a).map(|g| g.id))
                    .collect::<Option<Vec<u32>>>()?,
            ),
        };
        Some(Nexthop {
            id,
            protocol: self.protocol,
            kind,
        })
    }

    /// The objects to put back, in order, when object `id` was deleted or changed by someone
    /// else: the object, and for a gateway every group it belongs to (the kernel takes a
    /// deleted member out of its groups); also the gateway sets whose routes may have gone with
    /// it.
    pub(crate) fn repair(&self, id: u32) -> (Vec<Request>, Vec<GatewaySet>) {
        let mut objects = Vec::new();
        let mut sets = Vec::new();
        match self.by_id.get(&id) {
            Some(Owner::Gateway(a)) => {
                objects.extend(self.expected(id));
                for (set, s) in &self.sets {
                    if set.contains(a) {
                        sets.push(set.clone());
                        if s.group {
                            objects.extend(self.expected(s.id));
                        }
                    }
                }
            }
            Some(Owner::Group(set)) => {
                objects.extend(self.expected(id));
                sets.push(set.clone());
            }
            None => {}
        }
        let requests = objects
            .into_iter()
            .map(|n| (KernelMessage::NewNexthop(n), RESTORE))
            .collect();
        (requests, sets)
    }

    /// The ids of every object of ours (for a full comparison with the kernel).
    pub(crate) fn ids(&self) -> Vec<u32> {
        self.by_id.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn deleted(requests: &[Request]) -> Vec<u32> {
        requests
            .iter()
            .filter_map(|(m, _)| match m {
                KernelMessage::DelNexthop(n) => Some(n.id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn objects_are_shared_and_removed_with_their_last_route() {
        let mut t = Nexthops::from_kernel(201, []);
        let (a, b) = (gw("198.18.1.2"), gw("198.18.2.2"));
        t.add_gateway(a, 2);
        t.add_gateway(b, 3);
        let both = vec![a, b];
        let created = t.acquire(&both).expect("a new group");
        assert!(
            matches!(created.0, KernelMessage::NewNexthop(Nexthop { kind: NexthopKind::Group(ref m), .. }) if m.len() == 2)
        );
        assert!(
            t.acquire(&both).is_none(),
            "the second route shares the group"
        );
        let group = t.id_of(&both).unwrap();
        assert!(
            t.acquire(&vec![b]).is_none(),
            "a set of one uses the gateway"
        );
        assert_eq!(t.id_of(&vec![b]), t.gateways.get(&b).map(|g| g.id));
        assert!(t.release(&both).is_empty());
        // The last route of the group goes: the group, then gateway a (b still has a route).
        let a_id = t.id_of(&vec![a]).unwrap();
        assert_eq!(deleted(&t.release(&both)), vec![group, a_id]);
        let b_id = t.id_of(&vec![b]).unwrap();
        assert_eq!(deleted(&t.release(&vec![b])), vec![b_id]);
        assert!(t.by_id.is_empty() && t.sets.is_empty() && t.gateways.is_empty());
    }

    #[test]
    fn a_group_moves_to_the_new_set_when_all_its_routes_go_there() {
        let mut t = Nexthops::from_kernel(201, []);
        let (a, b) = (gw("198.18.1.2"), gw("198.18.2.2"));
        t.add_gateway(a, 2);
        t.add_gateway(b, 3);
        let (both, only_b) = (vec![a, b], vec![b]);
        t.acquire(&both);
        t.acquire(&both);
        let group = t.id_of(&both).unwrap();
        let a_id = t.id_of(&vec![a]).unwrap();
        assert!(!t.can_move(&both, &only_b, 1), "not all of its routes");
        assert!(t.can_move(&both, &only_b, 2));
        let (message, flags) = t.move_request(&both, &only_b).unwrap();
        let b_id = t.gateways.get(&b).unwrap().id;
        assert!(
            matches!(message, KernelMessage::NewNexthop(Nexthop { id, kind: NexthopKind::Group(ref m), .. }) if id == group && m == &vec![b_id]),
            "{message:?}"
        );
        assert_eq!(flags, RESTORE, "a replace of the existing object");
        // Gateway a has no other user: deleted after the move.
        assert_eq!(deleted(&t.moved(&both, &only_b)), vec![a_id]);
        assert_eq!(t.id_of(&only_b), Some(group), "b's routes keep the group");
        assert_eq!(t.set_of_id(group), Some(only_b.clone()));
        // And back, once a has an object again.
        t.add_gateway(a, 2);
        assert!(t.can_move(&only_b, &both, 2));
        t.move_request(&only_b, &both).unwrap();
        assert!(deleted(&t.moved(&only_b, &both)).is_empty());
        assert_eq!(t.id_of(&both), Some(group));
        t.release(&both);
        let gone = deleted(&t.release(&both));
        assert_eq!(gone.len(), 3, "the group and both gateways: {gone:?}");
        assert!(t.by_id.is_empty() && t.sets.is_empty() && t.gateways.is_empty());
    }

    #[test]
    fn only_one_group_moves_onto_a_set() {
        let mut t = Nexthops::from_kernel(201, []);
        let (a, b, c) = (gw("198.18.1.2"), gw("198.18.2.2"), gw("198.18.3.2"));
        for (g, oif) in [(a, 2), (b, 3), (c, 4)] {
            t.add_gateway(g, oif);
        }
        let (ac, bc, only_c) = (vec![a, c], vec![b, c], vec![c]);
        t.acquire(&ac);
        t.acquire(&bc);
        assert!(t.can_move(&ac, &only_c, 1) && t.can_move(&bc, &only_c, 1));
        t.moved(&ac, &only_c);
        assert!(
            !t.can_move(&bc, &only_c, 1),
            "the set has the first group now: the second one's routes move one by one"
        );
    }

    #[test]
    fn previous_run_objects_are_adopted_and_foreign_ids_avoided() {
        let (a, b) = (gw("198.18.1.2"), gw("198.18.2.2"));
        let first = (201u32 << 24) | 1;
        let dump = vec![
            Nexthop {
                id: first,
                protocol: 201,
                kind: NexthopKind::Gateway { address: a, oif: 2 },
            },
            Nexthop {
                id: first + 1,
                protocol: 201,
                kind: NexthopKind::Gateway { address: b, oif: 3 },
            },
            Nexthop {
                id: first + 2,
                protocol: 201,
                kind: NexthopKind::Group(vec![first + 1, first]),
            },
            Nexthop {
                id: first + 3,
                protocol: 42,
                kind: NexthopKind::Group(vec![1]),
            },
            Nexthop {
                id: first + 4,
                protocol: 201,
                kind: NexthopKind::Group(vec![first, 77]),
            },
        ];
        let mut t = Nexthops::from_kernel(201, dump);
        assert_eq!(t.set_of_id(first + 2), Some(vec![a, b]));
        assert_eq!(t.id_of(&vec![a, b]), Some(first + 2));
        assert_eq!(deleted(&t.take_stray()), vec![first + 4]);
        // A leftover route holds the group; nothing holds a set of one: only the group stays.
        assert!(t.acquire(&vec![a, b]).is_none());
        assert!(t.sweep().is_empty());
        let c = gw("198.18.3.2");
        t.add_gateway(c, 4);
        assert_eq!(t.gateways.get(&c).map(|g| g.id), Some(first + 5));
        t.foreign.insert(first + 6);
        t.add_gateway(gw("198.18.4.2"), 5);
        assert_eq!(
            t.gateways.get(&gw("198.18.4.2")).map(|g| g.id),
            Some(first + 7)
        );
    }

    #[test]
    fn a_deleted_gateway_brings_back_its_groups_and_routes() {
        let mut t = Nexthops::from_kernel(201, []);
        let (a, b) = (gw("198.18.1.2"), gw("198.18.2.2"));
        t.add_gateway(a, 2);
        t.add_gateway(b, 3);
        t.acquire(&vec![a, b]);
        t.acquire(&vec![a]);
        let a_id = t.id_of(&vec![a]).unwrap();
        let (objects, mut sets) = t.repair(a_id);
        sets.sort();
        assert_eq!(objects.len(), 2, "the gateway and its group");
        assert!(objects.iter().all(|(_, flags)| *flags == RESTORE));
        assert_eq!(sets, vec![vec![a], vec![a, b]]);
    }
}
