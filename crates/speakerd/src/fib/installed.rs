//! The routes we installed, each with its gateway set. A full table has a million routes and a
//! handful of distinct gateway sets (one per ECMP combination of ToRs), so each set is stored
//! once, reference-counted, and a route holds its 4-byte id in a [`PrefixMap`]: a 12-byte slot
//! a route (IPv4) instead of a 24-byte map entry plus a heap vector of its own (about 100 bytes
//! a route in all).

use std::collections::HashMap;

use bgp_proto::Prefix;
use rib::PrefixMap;

use super::nexthops::GatewaySet;

/// Interned gateway sets: an id per distinct set, alive while a route uses it.
#[derive(Debug, Default)]
struct Sets {
    ids: HashMap<GatewaySet, u32>,
    /// By id: the set and how many routes use it; `None` when the id is free.
    slots: Vec<Option<(GatewaySet, usize)>>,
    free: Vec<u32>,
}

impl Sets {
    fn acquire(&mut self, set: GatewaySet) -> u32 {
        if let Some(id) = self.ids.get(&set) {
            if let Some((_, uses)) = self.slots[*id as usize].as_mut() {
                *uses += 1;
            }
            return *id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.ids.insert(set.clone(), id);
        self.slots[id as usize] = Some((set, 1));
        id
    }

    fn get(&self, id: u32) -> &GatewaySet {
        match &self.slots[id as usize] {
            Some((set, _)) => set,
            None => unreachable!("a route holds a live set id"),
        }
    }

    /// Drops one use of `id`; returns its set.
    fn release(&mut self, id: u32) -> GatewaySet {
        let slot = &mut self.slots[id as usize];
        match slot {
            Some((set, uses)) if *uses > 1 => {
                *uses -= 1;
                set.clone()
            }
            Some(_) => {
                let (set, _) = slot.take().unwrap_or_default();
                self.ids.remove(&set);
                self.free.push(id);
                set
            }
            None => unreachable!("a route holds a live set id"),
        }
    }
}

/// Our routes in the kernel: prefix -> gateway set.
#[derive(Debug, Default)]
pub(super) struct Installed {
    routes: PrefixMap<u32>,
    sets: Sets,
}

impl Installed {
    pub(super) fn len(&self) -> usize {
        self.routes.len()
    }

    pub(super) fn contains(&self, prefix: &Prefix) -> bool {
        self.routes.contains_key(prefix)
    }

    /// The gateway set `prefix` is installed with.
    pub(super) fn get(&self, prefix: &Prefix) -> Option<&GatewaySet> {
        self.routes.get(prefix).map(|id| self.sets.get(*id))
    }

    /// Records `prefix` as installed with `set`; returns the set it had.
    pub(super) fn insert(&mut self, prefix: Prefix, set: GatewaySet) -> Option<GatewaySet> {
        let id = self.sets.acquire(set);
        self.routes
            .insert(prefix, id)
            .map(|old| self.sets.release(old))
    }

    /// Forgets `prefix`; returns the set it had.
    pub(super) fn remove(&mut self, prefix: &Prefix) -> Option<GatewaySet> {
        let id = self.routes.remove(prefix)?;
        Some(self.sets.release(id))
    }

    /// Every route with its set.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Prefix, &GatewaySet)> + '_ {
        self.routes.iter().map(|(p, id)| (p, self.sets.get(*id)))
    }

    /// Forgets every route; returns their prefixes.
    pub(super) fn drain(&mut self) -> Vec<Prefix> {
        let prefixes = self.routes.drain().map(|(p, _)| p).collect();
        self.sets = Sets::default();
        prefixes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(addrs: &[&str]) -> GatewaySet {
        addrs.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn prefix(i: u8) -> Prefix {
        format!("10.0.{i}.0/24").parse().unwrap()
    }

    #[test]
    fn routes_share_their_sets_and_a_set_goes_with_its_last_route() {
        let mut installed = Installed::default();
        let both = set(&["198.18.0.2", "198.18.1.2"]);
        let one = set(&["198.18.0.2"]);
        for i in 0..3 {
            assert_eq!(installed.insert(prefix(i), both.clone()), None);
        }
        assert_eq!(installed.sets.ids.len(), 1, "one set for three routes");
        assert_eq!(installed.insert(prefix(0), one.clone()), Some(both.clone()));
        assert_eq!(installed.get(&prefix(0)), Some(&one));
        assert_eq!(installed.get(&prefix(1)), Some(&both));
        assert_eq!(installed.remove(&prefix(1)), Some(both.clone()));
        assert_eq!(installed.remove(&prefix(2)), Some(both.clone()));
        assert_eq!(
            installed.sets.ids.len(),
            1,
            "the ECMP set went with its last route"
        );
        // Its id is reused.
        installed.insert(prefix(3), set(&["198.18.9.9"]));
        assert_eq!(installed.sets.slots.len(), 2);
        assert_eq!(installed.len(), 2);
        let mut all: Vec<Prefix> = installed.iter().map(|(p, _)| p).collect();
        all.sort();
        assert_eq!(all, vec![prefix(0), prefix(3)]);
        assert_eq!(installed.drain().len(), 2);
        assert!(!installed.contains(&prefix(0)));
        assert!(installed.sets.ids.is_empty());
    }
}
