//! "did you mean" candidates, chosen by edit distance as just and starlark do.

/// The candidate closest to `found`, if one is close enough to be a likely typo.
pub fn closest<'a>(found: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let found_lower = found.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&found_lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len().max(found.len()) / 3).max(1) || (*d <= 3 && c.len() > 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_typos_only() {
        assert_eq!(
            closest("duraton", ["vus", "duration", "rate"]),
            Some("duration")
        );
        assert_eq!(
            closest("REQEST_ID", ["REQUEST_ID", "VU"]),
            Some("REQUEST_ID")
        );
        assert_eq!(closest("banana", ["vus", "duration"]), None);
    }
}
