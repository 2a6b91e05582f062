//! Execution segments: one instance's exact share of a run split across several
//! (`--execution-segment`, `--execution-segment-sequence`, `--segment-index/--segment-count`).
//!
//! ```text
//!  flags ─► Segment::parse ─► RunPlan.segment ─► runtime: VUs, stage targets, max_requests
//!                                                 (part, offset); the open model's
//!                                                 iterations (the stripe)
//! ```
//!
//! Every instance compiles the same scenario to the same plan; the segment only says
//! which part of it this one carries out. Shares are computed with integer math on
//! exact fractions, so the parts of a sequence add up to the whole for every count:
//! the instance `[from, to)` takes `floor(N·to) − floor(N·from)` of `N` (these
//! telescope over the sequence), and numbers its VUs after the `floor(V·from)` VUs of
//! the instances before it, so `${VU}` and `${REQUEST_ID}` stay unique across them.
//! The open model's iteration `k` of the global schedule belongs to the instance when
//! `k mod D` lies in `[from·D, to·D)`, `D` being the least common denominator of the
//! sequence: every block of `D` consecutive iterations is shared out in the sequence's
//! exact proportions, and no iteration belongs to two instances or none.

use std::fmt;

/// A fraction in lowest terms, between 0 and 1 for a segment's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fraction {
    num: u64,
    den: u64,
}

impl Ord for Fraction {
    fn cmp(&self, other: &Fraction) -> std::cmp::Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl PartialOrd for Fraction {
    fn partial_cmp(&self, other: &Fraction) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Fraction {
    /// 0.
    pub const ZERO: Fraction = Fraction { num: 0, den: 1 };
    /// 1.
    pub const ONE: Fraction = Fraction { num: 1, den: 1 };

    /// `num/den` in lowest terms; `None` when `den` is 0.
    pub fn new(num: u64, den: u64) -> Option<Fraction> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        Some(Fraction {
            num: num / g,
            den: den / g,
        })
    }

    /// The numerator, in lowest terms.
    pub fn num(self) -> u64 {
        self.num
    }

    /// The denominator, in lowest terms.
    pub fn den(self) -> u64 {
        self.den
    }

    /// As a float (for display and rates only; shares use [`Fraction::of`]).
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// `floor(n · self)`, exactly.
    pub fn of(self, n: u64) -> u64 {
        (u128::from(n) * u128::from(self.num) / u128::from(self.den)) as u64
    }

    /// Parse k6's spellings: `1/4`, `25%`, `12.5%`, `0.25`, `0`, `1`.
    ///
    /// # Errors
    ///
    /// The text is none of those (a message saying what is wrong).
    pub fn parse(text: &str) -> Result<Fraction, String> {
        let t = text.trim();
        let bad = || format!("`{t}` is not a fraction (write it as 1/4, 25% or 0.25)");
        if let Some((n, d)) = t.split_once('/') {
            let n: u64 = n.trim().parse().map_err(|_| bad())?;
            let d: u64 = d.trim().parse().map_err(|_| bad())?;
            return Fraction::new(n, d).ok_or_else(|| format!("`{t}` divides by zero"));
        }
        let (number, scale) = match t.strip_suffix('%') {
            Some(p) => (p.trim(), 100u64),
            None => (t, 1),
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 12
            || int.len() > 6
        {
            return Err(bad());
        }
        let den = 10u64.pow(frac.len() as u32);
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        Fraction::new(int * den + frac, den * scale).ok_or_else(bad)
    }
}

impl fmt::Display for Fraction {
    /// `0`, `1`, or `num/den` in lowest terms.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// This instance's part `[from, to)` of a run split by `sequence` (the bounds of
/// every instance's part, from 0 to 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Where this instance's part begins.
    pub from: Fraction,
    /// Where it ends (above `from`).
    pub to: Fraction,
    /// The bounds of all the parts, strictly increasing, from 0 to 1; `from` and `to`
    /// are two neighbours in it.
    pub sequence: Vec<Fraction>,
    /// The least common denominator of `sequence`: the open model's iterations are
    /// shared out in blocks of this many.
    lcd: u64,
}

impl fmt::Display for Segment {
    /// `from:to`, as `--execution-segment` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.from, self.to)
    }
}

impl Segment {
    /// The segment `text` (`a:b`) within `sequence` (`0,1/4,…,1`); without a sequence,
    /// the one k6 implies: `0`, `a`, `b`, `1`.
    ///
    /// # Errors
    ///
    /// A malformed segment or sequence, a segment outside `[0, 1]` or backwards, or a
    /// sequence without the segment's bounds (a message naming what is wrong).
    pub fn parse(text: &str, sequence: Option<&str>) -> Result<Segment, String> {
        let (a, b) = text.split_once(':').ok_or_else(|| {
            format!("--execution-segment `{text}`: expected FROM:TO, e.g. 0:1/4 or 50%:100%")
        })?;
        let from = Fraction::parse(a).map_err(|e| format!("--execution-segment: {e}"))?;
        let to = Fraction::parse(b).map_err(|e| format!("--execution-segment: {e}"))?;
        if to > Fraction::ONE {
            return Err(format!(
                "--execution-segment `{text}`: {to} is past 1 (a segment lies within 0:1)"
            ));
        }
        if from >= to {
            return Err(format!(
                "--execution-segment `{text}`: it must go up ({from} is not below {to})"
            ));
        }
        let bounds = match sequence {
            Some(s) => {
                let mut bounds = s
                    .split(',')
                    .map(|p| {
                        Fraction::parse(p).map_err(|e| format!("--execution-segment-sequence: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if bounds.first() != Some(&Fraction::ZERO) {
                    bounds.insert(0, Fraction::ZERO);
                }
                if bounds.last() != Some(&Fraction::ONE) {
                    bounds.push(Fraction::ONE);
                }
                if let Some(w) = bounds.windows(2).find(|w| w[0] >= w[1]) {
                    return Err(format!(
                        "--execution-segment-sequence `{s}`: it must go up from 0 to 1 ({} is not below {})",
                        w[0], w[1]
                    ));
                }
                for bound in [from, to] {
                    if !bounds.contains(&bound) {
                        return Err(format!(
                            "--execution-segment `{text}`: the sequence `{s}` does not contain its bound {bound}"
                        ));
                    }
                }
                if bounds.iter().any(|&f| f > from && f < to) {
                    return Err(format!(
                        "--execution-segment `{text}` spans more than one part of the sequence `{s}`"
                    ));
                }
                bounds
            }
            None => {
                let mut bounds = vec![Fraction::ZERO, from, to, Fraction::ONE];
                bounds.dedup();
                bounds
            }
        };
        Segment::new(from, to, bounds)
    }

    /// Part `index` (from 0) of `count` equal parts (`--segment-index`, `--segment-count`).
    ///
    /// # Errors
    ///
    /// `count` is 0 or `index` is not below it.
    pub fn equal(index: u64, count: u64) -> Result<Segment, String> {
        if count == 0 {
            return Err("--segment-count must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "--segment-index {index} is out of range: with --segment-count {count} it goes from 0 to {}",
                count - 1
            ));
        }
        let at = |i: u64| Fraction::new(i, count).unwrap_or(Fraction::ZERO);
        Segment::new(at(index), at(index + 1), (0..=count).map(at).collect())
    }

    fn new(from: Fraction, to: Fraction, sequence: Vec<Fraction>) -> Result<Segment, String> {
        let mut lcd: u64 = 1;
        for f in &sequence {
            lcd = (lcd / gcd(lcd, f.den))
                .checked_mul(f.den)
                .ok_or("the execution segment sequence's denominators are too large")?;
        }
        Ok(Segment {
            from,
            to,
            sequence,
            lcd,
        })
    }

    /// The whole run: `0:1`.
    pub fn whole() -> Segment {
        Segment {
            from: Fraction::ZERO,
            to: Fraction::ONE,
            sequence: vec![Fraction::ZERO, Fraction::ONE],
            lcd: 1,
        }
    }

    /// This instance's part of `n` (VUs, a stage's target, requests):
    /// `floor(n·to) − floor(n·from)`. Over a sequence the parts add up to `n`.
    pub fn part(&self, n: u64) -> u64 {
        self.to.of(n) - self.from.of(n)
    }

    /// [`Segment::part`] of a `u32`.
    pub fn part_u32(&self, n: u32) -> u32 {
        self.part(u64::from(n)) as u32
    }

    /// How many of `n` VUs the instances before this one take: its VUs are numbered
    /// from `offset(n) + 1`.
    pub fn offset(&self, n: u64) -> u64 {
        self.from.of(n)
    }

    /// Its share as a float (`to − from`): a rate's share.
    pub fn share(&self) -> f64 {
        (self.to.as_f64() - self.from.as_f64()).max(0.0)
    }

    /// The block size of the open model's striping.
    pub fn lcd(&self) -> u64 {
        self.lcd
    }

    fn stripe(&self) -> (u64, u64) {
        (self.from.of(self.lcd), self.to.of(self.lcd))
    }

    /// Whether iteration `k` (from 0) of the global schedule is this instance's.
    pub fn owns(&self, k: u64) -> bool {
        let (a, b) = self.stripe();
        (a..b).contains(&(k % self.lcd))
    }

    /// The global index of this instance's `j`-th iteration (from 0).
    pub fn global_index(&self, j: u64) -> u64 {
        let (a, b) = self.stripe();
        let width = b - a;
        (j / width)
            .saturating_mul(self.lcd)
            .saturating_add(a + j % width)
    }

    /// How many of the global iterations `0..k` are this instance's.
    pub fn owned_below(&self, k: u64) -> u64 {
        let (a, b) = self.stripe();
        (k / self.lcd) * (b - a) + (k % self.lcd).clamp(a, b) - a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(text: &str) -> Fraction {
        Fraction::parse(text).unwrap()
    }

    #[test]
    fn fractions_in_k6_spellings() {
        assert_eq!(f("1/4"), Fraction::new(1, 4).unwrap());
        assert_eq!(f("25%"), Fraction::new(1, 4).unwrap());
        assert_eq!(f("0.25"), Fraction::new(1, 4).unwrap());
        assert_eq!(f("12.5%"), Fraction::new(1, 8).unwrap());
        assert_eq!(f("2/4").to_string(), "1/2");
        assert_eq!(f("100%").to_string(), "1");
        assert_eq!(f("0").to_string(), "0");
        assert_eq!(f(".5").to_string(), "1/2");
        assert_eq!(
            Fraction::parse("x").unwrap_err(),
            "`x` is not a fraction (write it as 1/4, 25% or 0.25)"
        );
        assert_eq!(Fraction::parse("1/0").unwrap_err(), "`1/0` divides by zero");
        assert!(Fraction::parse("-1/4").is_err());
        assert!(Fraction::parse("%").is_err());
    }

    #[test]
    fn bad_segments_are_named() {
        assert_eq!(
            Segment::parse("1/2:1/4", None).unwrap_err(),
            "--execution-segment `1/2:1/4`: it must go up (1/2 is not below 1/4)"
        );
        assert_eq!(
            Segment::parse("0:3/2", None).unwrap_err(),
            "--execution-segment `0:3/2`: 3/2 is past 1 (a segment lies within 0:1)"
        );
        assert_eq!(
            Segment::parse("x:y", None).unwrap_err(),
            "--execution-segment: `x` is not a fraction (write it as 1/4, 25% or 0.25)"
        );
        assert_eq!(
            Segment::parse("1/4", None).unwrap_err(),
            "--execution-segment `1/4`: expected FROM:TO, e.g. 0:1/4 or 50%:100%"
        );
        assert_eq!(
            Segment::parse("0:1/4", Some("0,1/3,1")).unwrap_err(),
            "--execution-segment `0:1/4`: the sequence `0,1/3,1` does not contain its bound 1/4"
        );
        assert_eq!(
            Segment::parse("0:1/2", Some("0,1/4,1/2,1")).unwrap_err(),
            "--execution-segment `0:1/2` spans more than one part of the sequence `0,1/4,1/2,1`"
        );
        assert_eq!(
            Segment::parse("0:1/2", Some("0,1/2,1/4,1")).unwrap_err(),
            "--execution-segment-sequence `0,1/2,1/4,1`: it must go up from 0 to 1 (1/2 is not below 1/4)"
        );
        assert_eq!(
            Segment::equal(4, 4).unwrap_err(),
            "--segment-index 4 is out of range: with --segment-count 4 it goes from 0 to 3"
        );
    }

    #[test]
    fn the_implied_sequence_is_k6s() {
        let s = Segment::parse("50%:100%", None).unwrap();
        let seq: Vec<String> = s.sequence.iter().map(ToString::to_string).collect();
        assert_eq!(seq, ["0", "1/2", "1"]);
        let s = Segment::parse("1/4:1/2", Some("1/4,1/2,3/4")).unwrap();
        let seq: Vec<String> = s.sequence.iter().map(ToString::to_string).collect();
        assert_eq!(seq, ["0", "1/4", "1/2", "3/4", "1"]);
        assert_eq!(s.lcd(), 4);
    }

    /// Ten VUs over four equal parts: 2, 3, 2, 3, numbered 1–2, 3–5, 6–7, 8–10.
    #[test]
    fn ten_vus_over_four() {
        let parts: Vec<(u64, u64)> = (0..4)
            .map(|i| {
                let s = Segment::equal(i, 4).unwrap();
                (s.offset(10), s.part(10))
            })
            .collect();
        assert_eq!(parts, [(0, 2), (2, 3), (5, 2), (7, 3)]);
    }

    #[test]
    fn a_three_tenths_stripe() {
        let s = Segment::parse("1/2:4/5", Some("0,1/2,4/5,1")).unwrap();
        assert_eq!(s.lcd(), 10);
        let mine: Vec<u64> = (0..25).filter(|&k| s.owns(k)).collect();
        assert_eq!(mine, [5, 6, 7, 15, 16, 17]);
        let walked: Vec<u64> = (0..6).map(|j| s.global_index(j)).collect();
        assert_eq!(walked, mine);
        assert_eq!(s.owned_below(16), 4);
        assert_eq!(s.owned_below(25), 6);
    }

    /// A random sequence of 1 to 8 parts with denominators up to 60.
    fn sequence() -> impl Strategy<Value = Vec<Fraction>> {
        (1u64..=60, proptest::collection::btree_set(1u64..60, 0..8)).prop_map(|(den, cuts)| {
            let mut v = vec![Fraction::ZERO];
            v.extend(
                cuts.into_iter()
                    .filter(|&c| c < den)
                    .map(|c| Fraction::new(c, den).unwrap()),
            );
            v.push(Fraction::ONE);
            v.dedup();
            v
        })
    }

    fn segments(bounds: &[Fraction]) -> Vec<Segment> {
        let text: Vec<String> = bounds.iter().map(ToString::to_string).collect();
        let text = text.join(",");
        bounds
            .windows(2)
            .map(|w| Segment::parse(&format!("{}:{}", w[0], w[1]), Some(&text)).unwrap())
            .collect()
    }

    proptest! {
        /// The parts of any count add up to it, and the VU numbers they get are
        /// consecutive and disjoint: 1..=n over the whole sequence.
        #[test]
        fn parts_add_up(bounds in sequence(), n in 0u64..100_000) {
            let mut next = 0;
            for s in segments(&bounds) {
                prop_assert_eq!(s.offset(n), next);
                next += s.part(n);
            }
            prop_assert_eq!(next, n);
        }

        /// Every iteration of the global schedule belongs to exactly one part, each
        /// part's walk visits exactly its own in order, and the parts' counts below
        /// any index add up to it.
        #[test]
        fn stripes_partition_the_schedule(bounds in sequence(), start in 0u64..1_000_000, len in 1u64..400) {
            let parts = segments(&bounds);
            for k in start..start + len {
                prop_assert_eq!(parts.iter().filter(|s| s.owns(k)).count(), 1);
            }
            let end = start + len;
            prop_assert_eq!(parts.iter().map(|s| s.owned_below(end)).sum::<u64>(), end);
            for s in &parts {
                let first = s.owned_below(start);
                let mine: Vec<u64> = (start..end).filter(|&k| s.owns(k)).collect();
                let walked: Vec<u64> = (first..first + mine.len() as u64).map(|j| s.global_index(j)).collect();
                prop_assert_eq!(walked, mine);
            }
        }

        /// A stage's level moving over time: at every level the parts add up.
        #[test]
        fn stage_targets_add_up(count in 1u64..16, levels in proptest::collection::vec(0u64..500, 1..20)) {
            for level in levels {
                let sum: u64 = (0..count).map(|i| Segment::equal(i, count).unwrap().part(level)).sum();
                prop_assert_eq!(sum, level);
            }
        }
    }
}
