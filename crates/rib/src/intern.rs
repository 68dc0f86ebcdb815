//! Reference-counted interning: equal values are stored once, addressed by a `u32` slot number,
//! and freed when their last holder releases them. The RIB interns attribute sets and paths
//! (neighbour, path id, attribute set, stale) this way, so that a destination holds 4-byte
//! handles instead of pointers and copies.

use std::borrow::{Borrow, Cow};
use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Interned values with reference counts.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    slots: Vec<Slot<T>>,
    index: FxHashMap<T, u32>,
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
            index: FxHashMap::default(),
            free: Vec::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> Interner<T> {
    /// One more reference to the slot holding `value` (added if new, the only time a borrowed
    /// value is copied); whether it is new.
    pub(crate) fn intern<Q>(&mut self, value: Cow<'_, Q>) -> (u32, bool)
    where
        Q: ToOwned + Hash + Eq + ?Sized,
        T: Borrow<Q> + From<Q::Owned>,
    {
        if let Some(&slot) = self.index.get(value.as_ref()) {
            self.slots[slot as usize].refs += 1;
            return (slot, false);
        }
        let value = T::from(value.into_owned());
        let filled = Slot {
            value: Some(value.clone()),
            refs: 1,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = filled;
                slot
            }
            None => {
                self.slots.push(filled);
                self.slots.len() as u32 - 1
            }
        };
        self.index.insert(value, slot);
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
        self.index.remove(&value);
        if self.index.is_empty() {
            // The last value went: give the slots back instead of keeping them all free.
            self.slots = Vec::new();
            self.free = Vec::new();
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
        let (a, new_a) = interner.intern(Cow::Borrowed("a"));
        let (again, new_again) = interner.intern(Cow::Borrowed("a"));
        let (b, _) = interner.intern(Cow::<str>::Owned("b".to_string()));
        assert_eq!((a, new_a, new_again), (again, true, false));
        assert_ne!(a, b);
        assert_eq!(interner.len(), 2);
        assert_eq!(interner.release(a), None);
        assert_eq!(interner.get(a), "a");
        assert_eq!(interner.release(a).as_deref(), Some("a"));
        let (c, _) = interner.intern(Cow::Borrowed("c"));
        assert_eq!(c, a, "a freed slot is reused");
        interner.release(b);
        interner.release(c);
        assert_eq!(interner.len(), 0);
        assert!(interner.slots.is_empty());
    }
}
