//! Reading a file into tunes. An ABC file holds many tunes, each a header and a body, and each
//! may be broken on its own; this is where a file is cut at its `X:` lines, a tune's header
//! becomes its [`TuneFields`] and the stages (grammar, broken rhythm, repeats, player) run in
//! order, so that a broken tune turns into one [`AbcError`] while the others still load.

use crate::music::meter::Bars;
use crate::music::note::{sort_notes, Note, Tune, TuneFields};

use super::grammar::{field_line, music_line, strip_comment, Elem, Unterminated};
use super::key::{propagation, Propagation};
use super::player::Player;
use super::repeats::expand_repeats;
use super::{AbcError, Accidentals};

type ReadTunes = (Vec<(Tune, Vec<f64>)>, Vec<AbcError>);

/// [`parse_abc_with`](super::parse_abc_with), each tune with its bar lines' times.
pub(super) fn parse_tunes(text: &str, path: &str, mode: Accidentals) -> ReadTunes {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("X:"))
        .map(|(i, _)| i)
        .collect();
    let mut errors = Vec::new();
    if starts.is_empty() {
        if lines.iter().any(|l| !l.trim().is_empty()) {
            errors.push(AbcError::NoTunes { line: 1 });
        }
        return (Vec::new(), errors);
    }
    let propagate = propagation(&lines[..starts[0]], mode);
    let single = starts.len() == 1;
    let mut tunes = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(lines.len());
        let x = lines[s][2..].trim().to_string();
        let source = if single {
            path.to_string()
        } else {
            format!("{path}#{x}")
        };
        match read_tune(&lines[s..end], s + 1, &x, propagate) {
            Ok(r) => tunes.push((
                Tune {
                    source,
                    notes: r.notes,
                    fields: r.fields,
                    bars: r.bars,
                },
                r.bar_lines,
            )),
            Err(e) => errors.push(e),
        }
    }
    (tunes, errors)
}

fn read_tune(
    lines: &[&str],
    first_line: usize,
    x: &str,
    propagate: Propagation,
) -> Result<Read, AbcError> {
    let mut fields = TuneFields::default();
    let mut titles = Vec::new();
    let mut notes_text = Vec::new();
    let mut header: Vec<(char, String)> = Vec::new();
    let mut elems: Vec<(Elem, usize)> = Vec::new();
    let mut in_body = false;
    for (k, raw) in lines.iter().enumerate().skip(1) {
        let line = first_line + k;
        let l = strip_comment(raw);
        if !in_body {
            if raw.trim().is_empty() {
                // A blank line inside the header ends a tune that has no body.
                break;
            }
            if let Some((f, v)) = field_line(l) {
                match f {
                    'T' => titles.push(v.to_string()),
                    'N' => notes_text.push(v.to_string()),
                    'O' => fields.origin = join(&fields.origin, v),
                    'R' => fields.rhythm = v.to_string(),
                    'M' => fields.meter = v.to_string(),
                    'K' => {
                        fields.key = v.to_string();
                        in_body = true;
                    }
                    _ => {}
                }
                header.push((f, v.to_string()));
                continue;
            }
            if l.trim().is_empty() {
                continue;
            }
            // Music before K: — read it as music in C, as lenient readers do.
            in_body = true;
        }
        if raw.trim().is_empty() {
            // ABC 2.1: a blank line ends the tune; what follows is free text.
            break;
        }
        if let Some((f, v)) = field_line(l) {
            elems.push((Elem::Field(f, v.to_string()), line));
            continue;
        }
        let l = l.trim_end();
        let l = l.strip_suffix('\\').unwrap_or(l);
        music_line(l, line, &mut elems);
    }
    fields.title = titles.join(" / ");
    fields.notes = notes_text.join(" / ");

    let err_at = |u: Unterminated, line: usize| {
        let tune = x.to_string();
        match u {
            Unterminated::Chord => AbcError::UnterminatedChord { tune, line },
            Unterminated::Grace => AbcError::UnterminatedGrace { tune, line },
            Unterminated::String => AbcError::UnterminatedString { tune, line },
            Unterminated::Field => AbcError::UnterminatedField { tune, line },
        }
    };
    if let Some((Elem::Unterminated(u), line)) = elems
        .iter()
        .find(|(e, _)| matches!(e, Elem::Unterminated(_)))
    {
        return Err(err_at(*u, *line));
    }
    apply_broken_rhythm(&mut elems);
    let order = match expand_repeats(&elems) {
        Some(o) => o,
        None => {
            return Err(AbcError::RepeatTooLong {
                tune: x.to_string(),
                line: first_line,
            })
        }
    };
    let mut player = Player::new(&header, propagate);
    for &k in &order {
        player.play(&elems[k].0);
    }
    let bars = player.bars();
    let mut notes = player.notes;
    if notes.is_empty() {
        return Err(AbcError::NoNotes {
            tune: x.to_string(),
            line: first_line,
        });
    }
    sort_notes(&mut notes);
    Ok(Read {
        notes,
        fields,
        bars,
        bar_lines: player.bar_lines,
    })
}

/// One tune as read, with the times of its bar lines.
struct Read {
    notes: Vec<Note>,
    fields: TuneFields,
    bars: Bars,
    bar_lines: Vec<f64>,
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a} / {b}")
    }
}

/// `a>b` makes a one and a half times as long and b half as long (`>>`: 7/4 and 1/4, ...);
/// `<` the other way round. Resolved before expansion, as it binds neighbouring elements.
fn apply_broken_rhythm(elems: &mut [(Elem, usize)]) {
    let is_timed = |e: &Elem| matches!(e, Elem::Note { .. } | Elem::Rest { bars: false, .. });
    for k in 0..elems.len() {
        let Elem::Broken(n) = elems[k].0 else {
            continue;
        };
        // Only direct neighbours count (skipped symbols are already gone), which also keeps a
        // run like `><><><` linear.
        let (Some(p), q) = (k.checked_sub(1), k + 1) else {
            continue;
        };
        if q >= elems.len() {
            continue;
        }
        if !is_timed(&elems[p].0) || !is_timed(&elems[q].0) {
            continue;
        }
        let short = 0.5f64.powi(n.abs());
        let long = 2.0 - short;
        let (a, b) = if n > 0 { (long, short) } else { (short, long) };
        scale(&mut elems[p].0, a);
        scale(&mut elems[q].0, b);
    }
}

fn scale(e: &mut Elem, f: f64) {
    if let Elem::Note { mult, .. } | Elem::Rest { mult, .. } = e {
        *mult *= f;
    }
}

#[cfg(test)]
mod tests {
    use crate::music::abc::parse_abc;
    use crate::music::abc::tests::{one, pitches};

    #[test]
    fn body_field_lines() {
        assert_eq!(one("C\nK:G\nF\nL:1/4\nF")[2].2, 0.5);
    }

    #[test]
    fn comments_and_continuations() {
        assert_eq!(pitches("C D % E F\nG \\\nA"), [60, 62, 67, 69]);
    }

    #[test]
    fn broken_rhythm() {
        let d = |b: &str| one(b).iter().map(|n| n.2).collect::<Vec<f64>>();
        assert_eq!(d("C>D"), [0.375, 0.125]);
        assert_eq!(d("C<D"), [0.125, 0.375]);
        assert_eq!(d("C>>D"), [0.4375, 0.0625]);
        assert_eq!(d("C2<<D2"), [0.125, 0.875]);
    }

    #[test]
    fn titles_and_fields() {
        let text = "X:7\nT:One\nT:Two\nO:China, Han\nN:a\nN:b\nR:Shange\nM:2/4\nL:1/16\nK:D dor\nC\n\nX:8\nK:C\nD\n";
        let (t, e) = parse_abc(text, "f.abc");
        assert!(e.is_empty());
        assert_eq!(t[0].source, "f.abc#7");
        assert_eq!(t[1].source, "f.abc#8");
        let f = &t[0].fields;
        assert_eq!(f.title, "One / Two");
        assert_eq!(f.origin, "China, Han");
        assert_eq!(f.notes, "a / b");
        assert_eq!(f.rhythm, "Shange");
        assert_eq!(f.meter, "2/4");
        assert_eq!(f.key, "D dor");
        let (t, _) = parse_abc("X:3\nK:C\nC\n", "one.abc");
        assert_eq!(t[0].source, "one.abc");
    }

    #[test]
    fn broken_tunes_are_reported_and_skipped() {
        let text = "X:1\nK:C\nC\n\nX:12\nK:C\nC D\n[CE\n\nX:13\nK:C\n\"Am C\n\nX:14\nK:C\n{g C\n\nX:15\nK:C\n[K:D C\n\nX:16\nK:C\nz4\n\nX:17\nK:C\nD\n";
        let (t, e) = parse_abc(text, "b.abc");
        assert_eq!(t.len(), 2);
        let msgs: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "tune 12, line 8: unterminated chord",
                "tune 13, line 12: unterminated string",
                "tune 14, line 16: unterminated grace notes",
                "tune 15, line 20: unterminated inline field",
                "tune 16, line 22: no notes",
            ]
        );
        assert_eq!(
            parse_abc("just text\n", "n.abc").1[0].to_string(),
            "line 1: no tunes (no X: field)"
        );
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        let (t, e) = parse_abc("\u{feff}X:1\r\nL:1/4\r\nK:G\r\nF2 G\r\n", "w.abc");
        assert!(e.is_empty());
        let n: Vec<(u8, f64)> = t[0].notes.iter().map(|n| (n.pitch, n.duration)).collect();
        assert_eq!(n, [(66, 1.0), (67, 0.5)]);
    }
}
