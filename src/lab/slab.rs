//! A slab with generations: ids stay small, a stale id (to a freed and reused slot) is detected,
//! and memory is bounded by what is live, not by what was ever created.

/// An id into a [`Slab`]: slot and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    slot: u32,
    gen: u32,
}

impl Key {
    /// The slot number, stable while the entry lives (used as a connection id in output).
    pub fn slot(self) -> u32 {
        self.slot
    }

    /// Slot and generation in one number (to hand a key to a machine as an opaque id).
    pub fn to_raw(self) -> u64 {
        u64::from(self.slot) << 32 | u64::from(self.gen)
    }

    /// The key [`Key::to_raw`] packed.
    pub fn from_raw(raw: u64) -> Key {
        Key {
            slot: (raw >> 32) as u32,
            gen: raw as u32,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry<T> {
    gen: u32,
    value: Option<T>,
}

/// Entries addressed by [`Key`]; freed slots are reused lowest-first is not guaranteed, only
/// determinism is (a LIFO free list).
#[derive(Debug, Clone)]
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Bytes one slot takes (the entries never shrink: a slab costs its peak of live entries
    /// times this, plus 4 bytes per slot on the free list).
    pub const SLOT_BYTES: usize = std::mem::size_of::<Entry<T>>();

    /// Store `value`; returns its key.
    #[inline]
    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let e = &mut self.entries[slot as usize];
            e.gen = e.gen.wrapping_add(1);
            e.value = Some(value);
            Key { slot, gen: e.gen }
        } else {
            let slot = self.entries.len() as u32;
            self.entries.push(Entry {
                gen: 0,
                value: Some(value),
            });
            Key { slot, gen: 0 }
        }
    }

    /// The live entry for `key`, or `None` if it was removed.
    #[inline]
    pub fn get(&self, key: Key) -> Option<&T> {
        let e = self.entries.get(key.slot as usize)?;
        if e.gen == key.gen {
            e.value.as_ref()
        } else {
            None
        }
    }

    /// The live entry for `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let e = self.entries.get_mut(key.slot as usize)?;
        if e.gen == key.gen {
            e.value.as_mut()
        } else {
            None
        }
    }

    /// Remove and return the entry for `key`.
    #[inline]
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let e = self.entries.get_mut(key.slot as usize)?;
        if e.gen != key.gen {
            return None;
        }
        let v = e.value.take()?;
        self.free.push(key.slot);
        self.len -= 1;
        Some(v)
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Live entries with their keys, mutably, in slot order (deterministic).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Key, &mut T)> + '_ {
        self.entries.iter_mut().enumerate().filter_map(|(i, e)| {
            let gen = e.gen;
            e.value.as_mut().map(|v| {
                (
                    Key {
                        slot: i as u32,
                        gen,
                    },
                    v,
                )
            })
        })
    }

    /// Live keys in slot order (deterministic).
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.value.is_some())
            .map(|(i, e)| Key {
                slot: i as u32,
                gen: e.gen,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_are_detected() {
        let mut s = Slab::default();
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(a.slot(), b.slot());
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s.keys().collect::<Vec<_>>(), vec![b]);
        let c = s.insert("c");
        for (_, v) in s.iter_mut() {
            *v = "z";
        }
        assert_eq!(s.get(b), Some(&"z"));
        assert_eq!(s.get(c), Some(&"z"));
        assert_eq!(s.iter_mut().map(|(k, _)| k).collect::<Vec<_>>(), vec![b, c]);
    }
}
