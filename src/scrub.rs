//! Masking secrets in text a peer wrote. A hostile validator (or GitHub's error text) may
//! echo the PAT back, whole, in part, or split by characters a reader does not see; what
//! is shown, logged or stored must carry none of it.

/// A run of this many consecutive characters of a secret is masked: fewer say nothing
/// useful about a 40-character token, more would let a peer leak it in pieces.
pub const MIN_RUN: usize = 8;

/// The longest text scanned. Callers cap peer text to this before it reaches [`scrub`]
/// (and cut what is shown only after), which bounds the work: at most
/// `SCAN_MAX_CHARS × secret length` comparisons per secret.
pub const SCAN_MAX_CHARS: usize = 4096;

// What is scanned must cover all that is shown, or an echo past the scan would be shown.
const _: () = assert!(SCAN_MAX_CHARS > crate::synapse::REASON_MAX_CHARS);

const MASK: &str = "***";

/// GitHub's token prefixes (classic `ghp_`, OAuth `gho_`, user-to-server `ghu_`,
/// server-to-server `ghs_`, refresh `ghr_`) and the fine-grained `github_pat_`.
const SHORT_PREFIXES: [&str; 5] = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"];
const FINE_GRAINED_PREFIX: &str = "github_pat_";
const TOKEN_BODY_MIN: usize = 20;

/// `text` with every run of [`MIN_RUN`] or more consecutive characters of any of `secrets`
/// and every GitHub token shape replaced by `***` (`***` + the last four where the run is a
/// whole secret, as [`crate::secrets::Pat::masked`] shows it), then cut to `max_chars`.
///
/// Runs are found after whitespace, control and Unicode format (Cf) characters are
/// removed, so `ghp_abc\u{200B}def…` is a run too; the masked span of the original text
/// covers the characters that were inserted into it. Only the first [`SCAN_MAX_CHARS`]
/// characters are looked at.
pub fn scrub(text: &str, secrets: &[&str], max_chars: usize) -> String {
    let original: Vec<char> = text.chars().take(SCAN_MAX_CHARS).collect();
    // What is compared, and where each of its characters sits in `original`.
    let (compact, at): (Vec<char>, Vec<usize>) =
        original.iter().enumerate().filter(|(_, c)| !invisible(**c)).map(|(i, c)| (*c, i)).unzip();
    // Whether whitespace stood before each compared character: a token shape ends there
    // (an echo of our own PATs is matched across it, other text is not swallowed).
    let spaced: Vec<bool> =
        (0..compact.len()).map(|k| k > 0 && original[at[k - 1] + 1..at[k]].iter().any(|c| c.is_whitespace())).collect();
    let mut masked = vec![false; compact.len()];
    let secrets: Vec<Vec<char>> =
        secrets.iter().map(|s| s.chars().collect::<Vec<char>>()).filter(|s| !s.is_empty()).collect();
    for secret in &secrets {
        mark_shared_runs(&compact, secret, &mut masked);
    }
    mark_token_shapes(&compact, &spaced, &mut masked);

    let mut out = String::new();
    let mut next = 0; // first character of `original` not yet written
    let mut i = 0;
    while i < compact.len() {
        if !masked[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < compact.len() && masked[i] {
            i += 1;
        }
        let (from, to) = (at[start], at[i - 1]);
        out.extend(&original[next..from]);
        let run = &compact[start..i];
        match secrets.iter().find(|s| s.as_slice() == run) {
            Some(whole) if whole.len() >= MIN_RUN => {
                out.push_str(MASK);
                out.extend(&whole[whole.len() - 4..]);
            }
            _ => out.push_str(MASK),
        }
        next = to + 1;
    }
    out.extend(&original[next..]);
    out.chars().take(max_chars).collect()
}

/// Characters a reader does not see or that split a token without changing it.
fn invisible(c: char) -> bool {
    c.is_whitespace() || c.is_control() || is_format(c)
}

/// Unicode general category Cf (format characters: zero-width spaces and joiners, bidi
/// controls, the BOM, invisible operators, tags), as of Unicode 15.
fn is_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Marks every position of `text` inside a common substring of `text` and `secret` of at
/// least [`MIN_RUN`] characters (or the whole secret, if shorter). Longest-common-suffix
/// table, one row at a time: O(text × secret).
fn mark_shared_runs(text: &[char], secret: &[char], masked: &mut [bool]) {
    let min = MIN_RUN.min(secret.len());
    let mut previous = vec![0usize; secret.len() + 1];
    let mut row = vec![0usize; secret.len() + 1];
    for (i, c) in text.iter().enumerate() {
        for (j, s) in secret.iter().enumerate() {
            row[j + 1] = if c == s { previous[j] + 1 } else { 0 };
            let run = row[j + 1];
            if run == min {
                masked[i + 1 - min..=i].iter_mut().for_each(|m| *m = true);
            } else if run > min {
                masked[i] = true;
            }
        }
        std::mem::swap(&mut previous, &mut row);
    }
}

/// Marks GitHub token shapes: a prefix followed by at least [`TOKEN_BODY_MIN`] token
/// characters, not broken by whitespace (the prefix and the whole body are masked).
fn mark_token_shapes(text: &[char], spaced: &[bool], masked: &mut [bool]) {
    let starts_with = |at: usize, prefix: &str| {
        let p: Vec<char> = prefix.chars().collect();
        text.len() >= at + p.len() && text[at..at + p.len()] == p[..]
    };
    let mut i = 0;
    while i < text.len() {
        let (prefix_len, body_char): (usize, fn(&char) -> bool) = if starts_with(i, FINE_GRAINED_PREFIX) {
            (FINE_GRAINED_PREFIX.len(), |c| c.is_ascii_alphanumeric() || *c == '_')
        } else if SHORT_PREFIXES.iter().any(|p| starts_with(i, p)) {
            (4, |c| c.is_ascii_alphanumeric())
        } else {
            i += 1;
            continue;
        };
        let body = (i + prefix_len..text.len()).take_while(|&k| body_char(&text[k]) && !spaced[k]).count();
        if body >= TOKEN_BODY_MIN {
            let end = i + prefix_len + body;
            masked[i..end].iter_mut().for_each(|m| *m = true);
            i = end;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAT: &str = "ghp_Zq7Lm2Xc9Vb4Nn8Kk1Jj6Hh3Gg5Ff0Dd2Ss7";
    const OLD_PAT: &str = "ghp_Ob5Pr3Ee9Vv1Ii4Oo8Uu2Ss6Pp0Aa7Tt3Kk1";

    /// The longest run of `secret`'s characters in `shown`, ignoring invisible ones.
    fn longest_run(shown: &str, secret: &str) -> usize {
        let shown: Vec<char> = shown.chars().filter(|c| !invisible(*c)).collect();
        let secret: Vec<char> = secret.chars().collect();
        let mut best = 0;
        for i in 0..shown.len() {
            for j in 0..secret.len() {
                let n = shown[i..].iter().zip(&secret[j..]).take_while(|(a, b)| a == b).count();
                best = best.max(n);
            }
        }
        best
    }

    #[test]
    fn a_pat_at_offset_364_of_a_400_character_reason_is_masked_before_the_cut() {
        let reason = format!("{}{PAT}{}", "x".repeat(364), ".".repeat(60));
        let shown = scrub(&reason, &[PAT], 400);
        assert!(longest_run(&shown, PAT) < MIN_RUN, "{shown}");
        assert_eq!(shown, format!("{}***2Ss7{}", "x".repeat(364), ".".repeat(29)));
        assert_eq!(shown.chars().count(), 400);
        // Cut first, as before, and 36 characters were left for masking to miss.
        let cut_first: String = reason.chars().take(400).collect();
        assert_eq!(longest_run(&scrub(&cut_first, &[PAT], 400), PAT), 0);
    }

    #[test]
    fn a_pat_split_by_a_zero_width_space_or_a_space_is_masked_with_what_was_inserted() {
        let (head, tail) = PAT.split_at(17);
        for sep in ["\u{200B}", " ", "\u{FEFF}\u{2060}", "\u{200F}\n"] {
            let reason = format!("bad token {head}{sep}{tail} here");
            let shown = scrub(&reason, &[PAT], 400);
            assert_eq!(shown, "bad token ***2Ss7 here", "split by {sep:?}");
        }
    }

    #[test]
    fn eight_characters_of_the_pat_are_masked_seven_are_not() {
        assert_eq!(scrub(&format!("a {} b", &PAT[10..18]), &[PAT], 400), "a *** b");
        let seven = &PAT[10..17];
        assert_eq!(scrub(&format!("a {seven} b"), &[PAT], 400), format!("a {seven} b"));
    }

    #[test]
    fn the_previous_pat_is_masked_too() {
        let shown = scrub(&format!("you sent {OLD_PAT} and {}", &PAT[4..30]), &[PAT, OLD_PAT], 400);
        assert_eq!(shown, "you sent ***3Kk1 and ***");
    }

    #[test]
    fn github_token_shapes_of_other_tokens_are_masked() {
        let others = [
            "ghp_aaaaBBBBccccDDDDeeee1234",
            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ghs_0123456789abcdefghij",
            "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGH",
        ];
        for token in others {
            assert_eq!(scrub(&format!("leaked: {token}."), &[PAT], 400), "leaked: ***.", "{token}");
        }
        // Too short to be a token, or not a prefix at all: left alone.
        for text in ["ghp_short", "see ghp_ and gho_ docs", "xghz_0123456789abcdefghijkl"] {
            assert_eq!(scrub(text, &[PAT], 400), text);
        }
        // A token shape split by a zero-width space is one too.
        assert_eq!(scrub("ghs_0123456789\u{200B}abcdefghij!", &[], 400), "***!");
        // It ends at whitespace: the words after it are not taken for its body.
        assert_eq!(scrub("ghs_0123456789abcdefghij and more", &[], 400), "*** and more");
    }

    #[test]
    fn a_reason_without_a_pat_is_unchanged() {
        for reason in [
            "",
            "No PAT stored for this miner",
            "GitHub API temporarily unavailable; retry the check in a few minutes.",
            "PAT identity is locked to another GitHub account",
            "ünïcødé \u{200B} and spaces   kept exactly",
        ] {
            assert_eq!(scrub(reason, &[PAT, OLD_PAT], 400), reason);
        }
    }

    #[test]
    fn the_cut_comes_after_masking_and_the_scan_is_bounded() {
        let long = "x".repeat(10_000);
        assert_eq!(scrub(&long, &[PAT], 400).chars().count(), 400);
        // A PAT beyond what is scanned is not shown either: only the scanned part is kept.
        let late = format!("{}{PAT}", "x".repeat(SCAN_MAX_CHARS + 10));
        assert_eq!(scrub(&late, &[PAT], SCAN_MAX_CHARS * 2).chars().count(), SCAN_MAX_CHARS);
    }
}
