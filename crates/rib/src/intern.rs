//! Reference-counted interning: equal values are stored once, addressed by a `u32` slot number,
//! and freed when their last holder releases them. The RIB interns attribute sets and paths
//! (neighbour, path id, attribute set, stale) this way, so that a destination holds 4-byte
//! handles instead of pointers and copies.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// Interned values with reference counts.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    slots: Vec<Slot<T>>,
    /// Slot numbers by the hash of their value: each value is stored once, in its slot.
    index: HashTable<u32>,
    free: Vec<u32>,
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    refs: u32,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            index: HashTable::new(),
            free: Vec::new(),
        }
    }
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    FxBuildHasher.hash_one(value)
}

impl<T: Hash + Eq> Interner<T> {
    /// One more reference to the slot holding `value` (added if new); whether it is new.
    pub(crate) fn intern(&mut self, value: T) -> (u32, bool) {
        let hash = hash_of(&value);
        let slots = &mut self.slots;
        let found = self.index.find(hash, |slot| {
            slots[*slot as usize].value.as_ref() == Some(&value)
        });
        if let Some(&slot) = found {
            slots[slot as usize].refs += 1;
            return (slot, false);
        }
        let filled = Slot {
            value: Some(value),
            refs: 1,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                slots[slot as usize] = filled;
                slot
            }
            None => {
                slots.push(filled);
                slots.len() as u32 - 1
            }
        };
        self.index.insert_unique(hash, slot, |slot| {
            hash_of(
                slots[*slot as usize]
                    .value
                    .as_ref()
                    .expect("indexed slots are live"),
            )
        });
        (slot, true)
    }

    /// One more reference to a live slot.
    pub(crate) fn retain(&mut self, slot: u32) {
        self.slots[slot as usize].refs += 1;
    }

    /// Drops one reference; returns the value when that was the last one (the slot is free).
    pub(crate) fn release(&mut self, slot: u32) -> Option<T> {
        let entry = &mut self.slots[slot as usize];
        entry.refs -= 1;
        if entry.refs > 0 {
            return None;
        }
        let value = entry.value.take()?;
        if let Ok(indexed) = self.index.find_entry(hash_of(&value), |s| *s == slot) {
            indexed.remove();
        }
        if self.index.is_empty() {
            // The last value went: give the slots back instead of keeping them all free.
            self.slots = Vec::new();
            self.free = Vec::new();
            self.index = HashTable::new();
        } else {
            self.free.push(slot);
        }
        Some(value)
    }

    /// The value of a live slot.
    pub(crate) fn get(&self, slot: u32) -> &T {
        self.slots[slot as usize]
            .value
            .as_ref()
            .expect("a live interned slot")
    }

    /// The live slots and their values.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| Some((slot as u32, s.value.as_ref()?)))
    }

    /// How many distinct values are alive.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_a_slot_until_the_last_release() {
        let mut interner: Interner<String> = Interner::default();
        let (a, new_a) = interner.intern("a".to_string());
        let (again, new_again) = interner.intern("a".to_string());
        let (b, _) = interner.intern("b".to_string());
        assert_eq!((a, new_a, new_again), (again, true, false));
        assert_ne!(a, b);
        assert_eq!(interner.len(), 2);
        assert_eq!(interner.release(a), None);
        assert_eq!(interner.get(a), "a");
        assert_eq!(interner.release(a).as_deref(), Some("a"));
        let (c, _) = interner.intern("c".to_string());
        assert_eq!(c, a, "a freed slot is reused");
        interner.release(b);
        interner.release(c);
        assert_eq!(interner.len(), 0);
        assert!(interner.slots.is_empty());
    }
}
