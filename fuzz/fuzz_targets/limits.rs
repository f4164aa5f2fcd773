//! Settings from Python callers and names from the network (`limits`,
//! `avatar_set::check_access_model`, `session::means_no_avatar`,
//! `session::purge_fallback`): `seconds` accepts exactly the finite values
//! in range (zero only when allowed, never a negative, NaN or infinity) and
//! converts them to the same duration; `count` accepts exactly the integers
//! from `min` to `max`; `domain_share` leaves other domains a quarter of
//! the slots but gives at least one; refusals name the setting; an access
//! model is one of XEP-0060's; an error condition means "no avatar" exactly
//! when a failed purge needs no error for the caller.
#![no_main]

use std::time::Duration;

use aioxmpp_avatar_core::avatar_set::{check_access_model, ACCESS_MODELS};
use aioxmpp_avatar_core::limits::{count, domain_share, seconds, MAX_SECONDS};
use aioxmpp_avatar_core::session::{means_no_avatar, purge_fallback, PurgeFallback};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Float {
    Bits(u64),
    Special(u8),
    Small(i32, u16),
}

impl Float {
    fn value(&self) -> f64 {
        match self {
            Float::Bits(b) => f64::from_bits(*b),
            Float::Special(i) => [
                0.0,
                -0.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                MAX_SECONDS,
                MAX_SECONDS.next_up(),
                MAX_SECONDS.next_down(),
                f64::MIN_POSITIVE,
                5e-324,
                -5e-324,
                f64::MAX,
            ][usize::from(*i) % 12],
            Float::Small(whole, frac) => f64::from(*whole) + f64::from(*frac) / 65536.0,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    name: &'a str,
    value: Float,
    zero_ok: bool,
    int: i128,
    min: u64,
    max: u64,
    slots: usize,
    word: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let v = input.value.value();
    let ok = v.is_finite() && v <= MAX_SECONDS && (v > 0.0 || (input.zero_ok && v == 0.0));
    match seconds(input.name, v, input.zero_ok) {
        Ok(d) => {
            assert!(ok, "{v:?} accepted");
            assert!(d <= Duration::from_secs_f64(MAX_SECONDS));
            assert_eq!(d, Duration::from_secs_f64(v.abs()));
            assert!(std::time::Instant::now().checked_add(d).is_some());
        }
        Err(message) => {
            assert!(!ok, "{v:?} refused");
            assert!(message.starts_with(input.name), "names the setting");
        }
    }

    let in_range = i128::from(input.min) <= input.int && input.int <= i128::from(input.max);
    match count(input.name, input.int, input.min, input.max) {
        Ok(n) => {
            assert!(in_range);
            assert_eq!(i128::from(n), input.int);
        }
        Err(message) => {
            assert!(!in_range);
            assert!(message.starts_with(input.name) && message.ends_with(&input.int.to_string()));
        }
    }

    let n = input.slots;
    let share = domain_share(n);
    assert!(share >= 1);
    if n >= 2 {
        assert!(share < n, "a domain never gets every slot");
        assert_eq!(share, n - (n / 4).max(1));
    } else {
        assert_eq!(share, 1);
    }

    let word = input.word;
    assert_eq!(
        check_access_model(word).is_ok(),
        ACCESS_MODELS.contains(&word)
    );
    if let Err(message) = check_access_model(word) {
        assert!(message.contains(&format!("{word:?}")));
    }
    let fallback = purge_fallback(word);
    assert_eq!(means_no_avatar(word), fallback != PurgeFallback::Raise);
    assert_eq!(
        fallback,
        match word {
            "item-not-found" => PurgeFallback::Done,
            "feature-not-implemented" => PurgeFallback::Overwrite,
            _ => PurgeFallback::Raise,
        }
    );
});
