//! "Did you mean": the nearest of some known names to one that is not known, when it is close
//! enough to be a typo of it.

/// The nearest candidate, when it is close enough to be what was meant.
pub(crate) fn did_you_mean<'c>(bad: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&bad.to_lowercase(), &c.to_lowercase()),
                *c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
