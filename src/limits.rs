//! Validation of the service's numeric settings.
//!
//! Every setting a caller can change is checked here before it reaches the
//! core, so that no value (negative, NaN, infinite, absurdly large) can
//! make a later computation overflow or panic. Messages name the setting,
//! what was given and what is expected.

use std::time::Duration;

/// Longest duration a setting accepts (about 100 years): far beyond any
/// useful value and small enough that `Instant + d` never overflows.
pub const MAX_SECONDS: f64 = 100.0 * 365.25 * 24.0 * 3600.0;

/// Default number of avatar IQs outstanding at once. A login asks every
/// contact's metadata and then image at once; at 32 slots a 100-contact
/// roster on one server waited for slots and logged in slower than aioxmpp,
/// which sends every IQ at once (bench `login`: 0.87-0.94x at 32, 1.14-1.15x
/// at 128). Still a bound: per-request state stays small and one domain
/// holds at most 96 slots.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 128;

/// Default time one avatar IQ may take before its waiters get a time-out.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A number of seconds: finite, at most [`MAX_SECONDS`], positive (or zero
/// when `zero_ok`).
pub fn seconds(name: &str, value: f64, zero_ok: bool) -> Result<Duration, String> {
    let bound = if zero_ok { "non-negative" } else { "positive" };
    let ok = value.is_finite() && value <= MAX_SECONDS && (value > 0.0 || zero_ok && value == 0.0);
    if !ok {
        return Err(format!(
            "{name} must be a {bound} finite number of seconds of at most {MAX_SECONDS:.0}, got {value}"
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

/// A count or size: an integer from `min` to `max`.
pub fn count(name: &str, value: i128, min: u64, max: u64) -> Result<u64, String> {
    if value < i128::from(min) || value > i128::from(max) {
        return Err(format!(
            "{name} must be an integer from {min} to {max}, got {value}"
        ));
    }
    Ok(value as u64)
}

/// Slots of the avatar IQ limit that one domain may hold at once: all but
/// a quarter (at least one), so that silent peers of one domain never hold
/// the slots other domains need, while a roster on one server still gets
/// most of them.
pub fn domain_share(total_slots: usize) -> usize {
    total_slots.saturating_sub((total_slots / 4).max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuse_what_could_overflow_or_make_no_sense() {
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e19, MAX_SECONDS * 2.0] {
            let err = seconds("negative_ttl", bad, true).unwrap_err();
            assert!(err.starts_with("negative_ttl must be"), "{err}");
        }
        assert!(seconds("request_timeout", 0.0, false).is_err());
        assert_eq!(seconds("negative_ttl", 0.0, true), Ok(Duration::ZERO));
        assert_eq!(seconds("t", 1.5, false), Ok(Duration::from_millis(1500)));
        let far = seconds("t", MAX_SECONDS, false).unwrap();
        assert!(std::time::Instant::now().checked_add(far).is_some());
    }

    #[test]
    fn counts_are_bounded() {
        assert_eq!(count("n", 5, 1, 10), Ok(5));
        assert!(count("n", 0, 1, 10)
            .unwrap_err()
            .contains("from 1 to 10, got 0"));
        assert!(count("n", i128::MAX, 0, u64::MAX).is_err());
        assert!(count("n", -1, 0, 10).is_err());
    }

    #[test]
    fn a_domain_never_gets_every_slot() {
        assert_eq!(domain_share(32), 24);
        assert_eq!(domain_share(1), 1);
        assert_eq!(domain_share(2), 1);
        assert_eq!(domain_share(4), 3);
    }
}
