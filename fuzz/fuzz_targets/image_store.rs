//! The shared in-memory image store (`images::ImageStore`) fed with fetched
//! data as peers send it (right or wrong bytes, ids of any case or form,
//! advertised sizes) and setting changes, against a model of its byte
//! budget and LRU order: `put_verified` succeeds exactly when `verify`
//! does; the bytes held never exceed the budget and are exactly those of
//! the images the model keeps; `get` returns only images that were
//! verified, under any case of their id; the counters add up.
#![no_main]

use aioxmpp_avatar_core::ids::sha1_hex;
use aioxmpp_avatar_core::images::{verify, ImageStore};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Id {
    /// The SHA-1 of blob `n`, upper case when set.
    Of(u8, bool),
    Free(String),
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Data: blob `n` of the pool (or any bytes); its id; its advertised size.
    Put(Result<u8, Vec<u8>>, Id, Option<u16>),
    Get(Id),
    SetBudget(u16),
    SetMaxImageBytes(u16),
}

fn blob(n: u8) -> Vec<u8> {
    // Eight blobs of different lengths, from empty to 700 bytes.
    let n = n % 8;
    vec![n; usize::from(n) * 100]
}

fn id_text(id: &Id) -> String {
    match id {
        Id::Of(n, upper) => {
            let h = sha1_hex(&blob(*n));
            if *upper {
                h.to_ascii_uppercase()
            } else {
                h
            }
        }
        Id::Free(s) => s.clone(),
    }
}

fuzz_target!(|input: (u16, u16, Vec<Op>)| {
    let (budget, max_bytes, ops) = input;
    let mut store = ImageStore::new(budget.into(), max_bytes.into());
    // (lowercase id, data), most recently used first.
    let mut model: Vec<(String, Vec<u8>)> = Vec::new();
    let mut budget = usize::from(budget);
    let (mut hits, mut misses, mut failures, mut verified) = (0u64, 0u64, 0u64, 0u64);
    let mut evictions = 0u64;
    let shrink = |model: &mut Vec<(String, Vec<u8>)>, budget: usize| {
        let mut evicted = 0;
        while model.iter().map(|e| e.1.len()).sum::<usize>() > budget {
            model.pop();
            evicted += 1;
        }
        evicted
    };
    for op in ops.into_iter().take(256) {
        match op {
            Op::Put(data, id, size) => {
                let data = match data {
                    Ok(n) => blob(n),
                    Err(bytes) => bytes,
                };
                let id = id_text(&id);
                let size = size.map(u64::from);
                let want = verify(&id, size, &data, store.max_image_bytes());
                let got = store.put_verified(&id, size, &data);
                assert_eq!(got.as_deref().ok(), want.as_ref().ok().map(|_| &data[..]));
                assert_eq!(got.as_ref().err(), want.as_ref().err());
                match want {
                    Ok(key) => {
                        verified += data.len() as u64;
                        if data.len() <= budget {
                            model.retain(|e| e.0 != key);
                            model.insert(0, (key, data));
                            evictions += shrink(&mut model, budget);
                        }
                    }
                    Err(_) => failures += 1,
                }
            }
            Op::Get(id) => {
                let id = id_text(&id);
                let key = id.to_ascii_lowercase();
                let is_hash = id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit());
                let want = match model.iter().position(|e| e.0 == key) {
                    Some(at) if is_hash => {
                        let e = model.remove(at);
                        model.insert(0, e);
                        Some(model[0].1.clone())
                    }
                    _ => None,
                };
                let got = store.get(&id);
                if let Some(data) = &got {
                    assert_eq!(sha1_hex(data), key, "only verified data comes out");
                }
                assert_eq!(got.as_deref(), want.as_deref());
                if got.is_some() {
                    hits += 1;
                } else {
                    misses += 1;
                }
            }
            Op::SetBudget(b) => {
                budget = usize::from(b);
                store.set_budget(budget);
                assert_eq!(store.budget(), budget);
                evictions += shrink(&mut model, budget);
            }
            Op::SetMaxImageBytes(m) => {
                store.set_max_image_bytes(m.into());
                assert_eq!(store.max_image_bytes(), u64::from(m));
            }
        }
        let held: usize = model.iter().map(|e| e.1.len()).sum();
        assert!(store.memory_used() <= store.budget(), "within the budget");
        assert_eq!(store.memory_used(), held);
        let stats = store.stats();
        assert_eq!(
            (stats.memory_hits, stats.misses),
            (hits, misses),
            "lookups counted"
        );
        assert_eq!(
            (stats.integrity_failures, stats.bytes_verified),
            (failures, verified)
        );
        assert_eq!(stats.evictions, evictions, "least recently used first");
    }
});
