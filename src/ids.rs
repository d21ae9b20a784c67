//! Feature ids the server mints: the collection and 12 random hex digits.

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
