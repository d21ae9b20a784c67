//! Feature ids: which a client may give (they name a feature in a URL path
//! segment, in `Location` and in ETag-guarded requests), and those the server
//! mints (the collection and 12 random hex digits).

/// A fresh feature id for `layer`, unique enough that the writer's check
/// against ids in use practically never fires.
pub fn new_id(layer: &str) -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock, still unique enough
        // within a layer when combined with the id check.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    format!("{layer}-{}", crate::hex::encode(&bytes))
}

/// The longest feature id accepted, in bytes: an id travels in every URL
/// and `Location` header that names its feature.
pub const MAX_ID_BYTES: usize = 256;

/// Why `id` cannot name a new feature: empty, longer than `MAX_ID_BYTES`,
/// or holding a character that changes a URL's meaning (`/`, `?`, `#`) or
/// a control character.
///
/// ```
/// assert!(zoneatlas::ids::check("R-001").is_ok());
/// assert!(zoneatlas::ids::check("way/4236349").is_err());
/// ```
pub fn check(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the id is empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "the id is {} bytes long; at most {MAX_ID_BYTES} are accepted",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#') || c.is_control())
    {
        return Err(format!(
            "the id {:?} holds {c:?}, which a URL path cannot carry as it is (ids are used in links); use letters, digits, '-', '_' or '.'",
            id.chars().take(64).collect::<String>()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_that_break_a_url_are_refused_and_others_pass() {
        for ok in ["R-001", "w4236349", "路-1", "a.b_c~d", "42"] {
            assert!(super::check(ok).is_ok(), "{ok}");
        }
        for bad in ["", "way/1", "a?b", "a#b", "a\nb", "a\u{7f}"] {
            assert!(super::check(bad).is_err(), "{bad:?}");
        }
        assert!(super::check(&"x".repeat(257)).is_err());
        assert!(super::check(&"x".repeat(256)).is_ok());
    }
}
