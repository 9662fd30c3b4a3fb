//! The configured field paths as one tree, walked once per record.
//!
//! A step is an object key, or a list index that also matches the object key of its digits
//! (`detector.events.extract`). Every node some path ends at has a value slot; slots are
//! numbered depth first, so a node's subtree owns one contiguous range of them and a later
//! duplicate key clears exactly what the earlier copy set.

use std::ops::Range;

use crate::text_index::{same, TextIndex};

/// One step of a compiled path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    /// A list index; objects are read at `key` (its decimal digits).
    Index {
        index: Option<usize>,
        key: String,
    },
}

impl Step {
    fn key(&self) -> &str {
        match self {
            Step::Key(key) | Step::Index { key, .. } => key,
        }
    }

    fn index(&self) -> Option<usize> {
        match self {
            Step::Key(_) => None,
            Step::Index { index, .. } => *index,
        }
    }
}

#[derive(Default)]
pub struct Node {
    /// Object key -> child number.
    keys: TextIndex,
    /// Child node ids by child number.
    children: Vec<usize>,
    /// Each child's key as it appears in JSON with its quotes, when that is the only way to
    /// write it without escapes (no quote, backslash or control character); else empty.
    quoted: Vec<Vec<u8>>,
    /// (list index, child node id), by index.
    by_index: Vec<(usize, usize)>,
    /// The value slot of the paths that end here.
    pub slot: Option<usize>,
    /// The slots of this node and of everything below it.
    pub slots: Range<usize>,
}

impl Node {
    #[inline]
    pub fn is_branch(&self) -> bool {
        !self.children.is_empty()
    }

    #[inline]
    pub fn has_indexes(&self) -> bool {
        !self.by_index.is_empty()
    }

    /// The child read at object key `key`. `guess`: the child number to try before hashing
    /// (producers write keys in the same order every time, so the one after the last match).
    #[inline]
    pub fn child(&self, key: &[u8], guess: &mut usize) -> Option<usize> {
        let number = if *guess < self.children.len() && same(self.keys.text(*guess), key) {
            *guess
        } else {
            self.keys.get(key)? as usize
        };
        *guess = number + 1;
        Some(self.children[number])
    }

    /// The child `guess` (see [`Node::child`]) and the length of its quoted key, when `rest`
    /// starts with that key: no scan of the key, no second comparison.
    #[inline]
    pub fn expected(&self, rest: &[u8], guess: usize) -> Option<(usize, usize)> {
        let quoted = self.quoted.get(guess)?;
        let n = quoted.len();
        (n > 0 && rest.len() >= n && same(&rest[..n], quoted)).then(|| (self.children[guess], n))
    }

    /// The child read at list index `index`; `cursor` is where the previous index search
    /// stopped (indexes only grow along a list).
    #[inline]
    pub fn child_at(&self, index: usize, cursor: &mut usize) -> Option<usize> {
        while let Some(&(i, node)) = self.by_index.get(*cursor) {
            if i >= index {
                return (i == index).then_some(node);
            }
            *cursor += 1;
        }
        None
    }
}

pub struct PathTree {
    pub nodes: Vec<Node>,
    /// The slot each path (in the order given) reads.
    pub path_slots: Vec<usize>,
    pub slot_count: usize,
}

pub const ROOT: usize = 0;

impl PathTree {
    pub fn new(paths: &[Vec<Step>]) -> Result<PathTree, String> {
        let mut nodes = vec![Node::default()];
        let mut step_of: Vec<Option<Step>> = vec![None];
        let mut ends = Vec::with_capacity(paths.len());
        for path in paths {
            if path.is_empty() {
                return Err("a path has no steps".into());
            }
            let mut at = ROOT;
            for step in path {
                let number = nodes[at].keys.get(step.key().as_bytes());
                at = match number {
                    Some(n) => {
                        let child = nodes[at].children[n as usize];
                        if step_of[child].as_ref() != Some(step) {
                            return Err(format!(
                                "the key {:?} is both a key and an index",
                                step.key()
                            ));
                        }
                        child
                    }
                    None => {
                        let child = nodes.len();
                        nodes.push(Node::default());
                        step_of.push(Some(step.clone()));
                        nodes[at].keys.intern(step.key().as_bytes());
                        nodes[at].children.push(child);
                        let key = step.key().as_bytes();
                        let plain = key.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
                        let quoted = if plain { [b"\"", key, b"\""].concat() } else { Vec::new() };
                        nodes[at].quoted.push(quoted);
                        if let Some(index) = step.index() {
                            nodes[at].by_index.push((index, child));
                            nodes[at].by_index.sort_unstable();
                        }
                        child
                    }
                };
            }
            ends.push(at);
        }
        let mut ends_here = vec![false; nodes.len()];
        for &end in &ends {
            ends_here[end] = true;
        }
        let mut next = 0;
        number_slots(&mut nodes, ROOT, &ends_here, &mut next);
        let path_slots = ends.iter().map(|&n| nodes[n].slot.expect("an end")).collect();
        Ok(PathTree { nodes, path_slots, slot_count: next })
    }
}

fn number_slots(nodes: &mut [Node], at: usize, ends_here: &[bool], next: &mut usize) {
    let start = *next;
    if ends_here[at] {
        nodes[at].slot = Some(start);
        *next += 1;
    }
    for i in 0..nodes[at].children.len() {
        let child = nodes[at].children[i];
        number_slots(nodes, child, ends_here, next);
    }
    nodes[at].slots = start..*next;
}
