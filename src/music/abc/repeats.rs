//! Repeat and ending expansion. ABC writes `|: A :|` once, but a melody model has to hear a
//! tune as it is played (A twice, each pass with its own ending), and its notes and bar times
//! follow the played order. This is the one stage whose output can grow beyond its input, so
//! it stands alone with the bound that keeps a pathological repeat structure from growing
//! without limit ([`MAX_PLAYED`]).

use super::grammar::{bit, BarKind, Elem};

/// At most this many elements are played per tune after repeat expansion; a pathological
/// repeat structure is cut there (and reported) instead of growing without bound.
pub(super) const MAX_PLAYED: usize = 200_000;

/// The order in which a player visits the elements: `|: A :|` plays A twice, `[1`/`[2`
/// endings pick their pass. `None` when the expansion exceeds [`MAX_PLAYED`].
pub(super) fn expand_repeats(elems: &[(Elem, usize)]) -> Option<Vec<usize>> {
    let mut order = Vec::with_capacity(elems.len());
    let mut start = 0; // where a `:|` jumps back to
    let mut pass = 1u32; // which time through the current repeated section
    let mut skipping = false; // inside an ending that this pass does not play
    let mut k = 0;
    // Every backward jump moves `start` forward, so this terminates; the step cap also bounds
    // the time spent scanning skipped endings.
    let mut steps = 0usize;
    while k < elems.len() {
        steps += 1;
        if order.len() > MAX_PLAYED || steps > 10 * MAX_PLAYED {
            return None;
        }
        let e = &elems[k].0;
        if skipping {
            match e {
                Elem::Ending(m) if m & bit(pass) != 0 => skipping = false,
                Elem::Bar(BarKind::RepeatEnd | BarKind::RepeatBoth) => {
                    // The skipped ending ends at its repeat sign; play on after it.
                    skipping = false;
                    if matches!(e, Elem::Bar(BarKind::RepeatBoth)) {
                        start = k + 1;
                        pass = 1;
                    }
                }
                Elem::Bar(BarKind::RepeatStart) => {
                    skipping = false;
                    start = k + 1;
                    pass = 1;
                }
                Elem::Bar(BarKind::Double) => skipping = false,
                _ => {}
            }
            k += 1;
            continue;
        }
        match e {
            Elem::Bar(BarKind::RepeatStart) => {
                start = k + 1;
                pass = 1;
            }
            Elem::Bar(BarKind::RepeatEnd | BarKind::RepeatBoth) => {
                order.push(k);
                if pass == 1 {
                    pass = 2;
                    k = start;
                    continue;
                }
                pass = 1;
                start = k + 1;
                k += 1;
                continue;
            }
            Elem::Bar(BarKind::Double) if pass > 1 => {
                pass = 1;
                start = k + 1;
            }
            Elem::Ending(m) if m & bit(pass) == 0 => {
                skipping = true;
                k += 1;
                continue;
            }
            _ => {}
        }
        order.push(k);
        k += 1;
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::MAX_PLAYED;
    use crate::music::abc::parse_abc;
    use crate::music::abc::tests::{one, pitches};

    #[test]
    fn repeats_and_endings() {
        assert_eq!(pitches("|: C D :| E"), [60, 62, 60, 62, 64]);
        assert_eq!(pitches("C :| D"), [60, 60, 62]);
        assert_eq!(pitches("|: C |1 D :|2 E |]"), [60, 62, 60, 64]);
        assert_eq!(pitches("|: C [1 D :| [2 E ||"), [60, 62, 60, 64]);
        assert_eq!(pitches("|: C :: D :|"), [60, 60, 62, 62]);
        assert_eq!(pitches("|: C |1 D :|2 E || F :|"), [60, 62, 60, 64, 65, 65]);
        assert_eq!(pitches("|: C |1 D :| E"), [60, 62, 60, 64]);
        assert_eq!(pitches("[| C || D |]"), [60, 62]);
        // Time runs on through the repeat.
        assert_eq!(one("|: C :|")[1].1, 0.25);
    }

    #[test]
    fn repeat_expansion_is_capped() {
        let body = format!("|: {} :|", "C ".repeat(MAX_PLAYED / 2 + 10));
        let (t, e) = parse_abc(&format!("X:5\nK:C\n{body}\n"), "big.abc");
        assert!(t.is_empty());
        assert_eq!(
            e[0].to_string(),
            format!("tune 5, line 1: repeats expand to more than {MAX_PLAYED} elements")
        );
    }

    #[test]
    fn nested_repeats_are_bounded() {
        // Each `::` doubles nothing by itself, but a long run of sections must stay linear.
        let body = "|: C :: ".repeat(5000);
        let t = parse_abc(&format!("X:1\nK:C\n{body}\n"), "r.abc");
        assert_eq!(t.0[0].notes.len(), 10000);
    }
}
