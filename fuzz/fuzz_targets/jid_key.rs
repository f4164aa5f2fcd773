//! Exact per-JID keys (`jid::JidKey`) built from arbitrary parts: the
//! accessors give back the parts exactly; with the hash computed from the
//! parts as the binding does (`mix_part_hashes` of per-part hashes), or
//! with every key forced into one bucket (chosen collisions), two keys are
//! equal exactly when their parts are equal as strings (absent and empty
//! parts differ), equal keys hash alike, and a `HashMap` keyed by them
//! behaves like one keyed by the part strings; `same_bare` compares
//! localpart and domain and never holds for a server JID, and
//! `is_other_resource_of` means the same account but not the same JID.
#![no_main]

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use aioxmpp_avatar_core::jid::{mix_part_hashes, JidKey};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

type Parts = (Option<String>, String, Option<String>);

#[derive(Arbitrary, Debug)]
struct Input {
    /// Part strings to pick from, so that keys share parts often.
    pool: Vec<String>,
    /// Each JID: (localpart, domain, resource), as indices into the pool
    /// (`None`: absent part).
    jids: Vec<(Option<u8>, u8, Option<u8>)>,
    /// How the bucket hash is chosen.
    hashing: Hashing,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Hashing {
    /// From the parts, as the binding does.
    Parts,
    /// The same value for every key: every lookup collides.
    Constant(u64),
    /// Only the total length counts: collides for parts split differently.
    Length,
}

fn part_hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn bucket(hashing: Hashing, p: &Parts) -> u64 {
    match hashing {
        Hashing::Parts => mix_part_hashes(
            p.0.as_deref().map(part_hash),
            part_hash(&p.1),
            p.2.as_deref().map(part_hash),
        ),
        Hashing::Constant(c) => c,
        Hashing::Length => {
            (p.0.as_ref().map_or(0, String::len) + p.1.len() + p.2.as_ref().map_or(0, String::len))
                as u64
        }
    }
}

fn std_hash(k: &JidKey) -> u64 {
    let mut h = DefaultHasher::new();
    k.hash(&mut h);
    h.finish()
}

fuzz_target!(|input: Input| {
    let pool = if input.pool.is_empty() {
        vec![String::new()]
    } else {
        input.pool
    };
    let at = |i: u8| pool[usize::from(i) % pool.len()].clone();
    let parts: Vec<Parts> = input
        .jids
        .iter()
        .take(64)
        .map(|&(l, d, r)| (l.map(at), at(d), r.map(at)))
        .collect();
    let keys: Vec<JidKey> = parts
        .iter()
        .map(|p| {
            let key = JidKey::new(
                p.0.as_deref(),
                &p.1,
                p.2.as_deref(),
                bucket(input.hashing, p),
            )
            .expect("short parts always make a key");
            assert_eq!(key.local(), p.0.as_deref());
            assert_eq!(key.domain(), p.1);
            assert_eq!(key.resource(), p.2.as_deref());
            assert_eq!(key.clone(), key);
            key
        })
        .collect();

    let mut by_key: HashMap<JidKey, usize> = HashMap::new();
    let mut by_parts: HashMap<&Parts, usize> = HashMap::new();
    for (i, (a, pa)) in keys.iter().zip(&parts).enumerate() {
        for (b, pb) in keys.iter().zip(&parts) {
            assert_eq!(a == b, pa == pb, "{pa:?} / {pb:?}");
            if a == b {
                assert_eq!(std_hash(a), std_hash(b), "Hash agrees with Eq");
            }
            let bare = pa.0.is_some() && pa.0 == pb.0 && pa.1 == pb.1;
            assert_eq!(a.same_bare(b), bare, "{pa:?} / {pb:?}");
            assert_eq!(a.is_other_resource_of(b), bare && pa != pb);
        }
        assert_eq!(by_key.insert(a.clone(), i), by_parts.insert(pa, i));
    }
    assert_eq!(by_key.len(), by_parts.len());
    for (k, p) in keys.iter().zip(&parts) {
        assert_eq!(by_key.get(k), by_parts.get(p));
    }
});
