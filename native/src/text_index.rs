//! Distinct byte strings numbered in order of first insertion: the vocabulary of a text column
//! (`Categories.from_values`' codes) and the keys of a path node.
//!
//! One arena for the texts and an open-addressing table of numbers: inserting a new text
//! allocates nothing per text, looking one up hashes it once. The hash is seeded per process,
//! so event producers cannot pick texts that all collide.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

const K: u64 = 0x9E37_79B9_7F4A_7C15;

fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| RandomState::new().hash_one(0x5EED_u64))
}

/// The last 0-7 bytes as one word, by (overlapping) loads rather than a byte copy: copying
/// into a stack buffer and reading it back stalls on store forwarding.
#[inline(always)]
fn tail_word(t: &[u8]) -> u64 {
    let n = t.len();
    debug_assert!(n < 8);
    let le32 = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().unwrap()) as u64;
    match n {
        0 => 0,
        1..=3 => t[0] as u64 | (t[n / 2] as u64) << 8 | (t[n - 1] as u64) << 16,
        _ => le32(t) | le32(&t[n - 4..]) << 32,
    }
}

/// `a == b`, without a call to memcmp for short texts (keys, categories).
#[inline(always)]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n > 16 {
        return a == b;
    }
    let le64 = |t: &[u8]| u64::from_le_bytes(t[..8].try_into().unwrap());
    match n {
        8..=16 => le64(a) == le64(b) && le64(&a[n - 8..]) == le64(&b[n - 8..]),
        _ => tail_word(a) == tail_word(b),
    }
}

/// A multiply-rotate hash over 8-byte words (FxHash's scheme, seeded, with a final mix).
#[inline]
fn hash(text: &[u8]) -> u64 {
    let mut h = seed() ^ text.len() as u64;
    let mut words = text.chunks_exact(8);
    for word in &mut words {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word.try_into().unwrap())).wrapping_mul(K);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        h = (h.rotate_left(5) ^ tail_word(tail)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

#[derive(Clone, Default)]
pub struct TextIndex {
    arena: Vec<u8>,
    /// `arena[ends[i - 1]..ends[i]]` is text `i`.
    ends: Vec<usize>,
    hashes: Vec<u64>,
    /// Text number + 1 per slot, 0 when free; a power of two at most half full.
    table: Vec<u32>,
}

impl TextIndex {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn text(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.arena[start..self.ends[i]]
    }

    pub fn texts(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.text(i))
    }

    /// The number of `text`, or where it would go in the table.
    #[inline]
    fn find(&self, text: &[u8], h: u64) -> Result<u32, usize> {
        if self.table.is_empty() {
            return Err(usize::MAX);
        }
        let mask = self.table.len() - 1;
        let mut slot = (h as usize) & mask;
        loop {
            match self.table[slot] {
                0 => return Err(slot),
                n => {
                    let i = (n - 1) as usize;
                    if self.hashes[i] == h && same(self.text(i), text) {
                        return Ok(i as u32);
                    }
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    #[inline]
    pub fn get(&self, text: &[u8]) -> Option<u32> {
        self.find(text, hash(text)).ok()
    }

    /// The number of `text`, a new one (the next) if it was not there.
    #[inline]
    pub fn intern(&mut self, text: &[u8]) -> u32 {
        let h = hash(text);
        match self.find(text, h) {
            Ok(i) => i,
            Err(mut slot) => {
                if (self.len() + 1) * 2 > self.table.len() {
                    self.grow();
                    slot = self.find(text, h).unwrap_err();
                }
                let i = self.len() as u32;
                self.arena.extend_from_slice(text);
                self.ends.push(self.arena.len());
                self.hashes.push(h);
                self.table[slot] = i + 1;
                i
            }
        }
    }

    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(16);
        self.table = vec![0; size];
        for (i, &h) in self.hashes.iter().enumerate() {
            let mut slot = (h as usize) & (size - 1);
            while self.table[slot] != 0 {
                slot = (slot + 1) & (size - 1);
            }
            self.table[slot] = i as u32 + 1;
        }
    }
}
