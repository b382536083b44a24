//! The vocabulary every section's validation shares: which key is wrong and why, and the
//! range check most keys need. A leaf: stage configs depend on it, the config module on them.

/// What a section's `validate` returns on failure: the key inside the section and why.
pub type KeyError = (String, String);

/// Checks `lo <= value <= hi` for a config key.
pub fn check_range<T: PartialOrd + std::fmt::Display>(key: &str, value: T, lo: T, hi: T) -> Result<(), KeyError> {
    if value < lo || value > hi {
        Err((
            key.to_string(),
            format!("{value} is out of range; use a value from {lo} to {hi}"),
        ))
    } else {
        Ok(())
    }
}
