//! The MusicXML writer: a partwise MusicXML 4.0 score with one part and one voice, the form
//! notation programs (MuseScore, Finale, Sibelius, Dorico) and music21 open. Durations count in
//! divisions of 24 per quarter note (the layout's ticks), so triplet thirty-seconds are whole
//! numbers; triplets carry `<time-modification>` 3:2 and a bracket.

use std::fmt::Write;

use super::{letter, Bar, BarAccidentals, Glyph, GridNote, Item, Key, Options, Sym};

/// Divisions per quarter note: a quarter of [`super::TICKS_PER_WHOLE`].
const DIVISIONS: u32 = super::TICKS_PER_WHOLE / 4;

/// Below this mean pitch (G3) the melody is written in the bass clef.
const BASS_BELOW: f64 = 55.0;

pub(super) fn render(bars: &[Bar], key: &Key, line: &[GridNote], opts: &Options) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    x.push_str(
        "<!DOCTYPE score-partwise PUBLIC \"-//Recordare//DTD MusicXML 4.0 Partwise//EN\" \
         \"http://www.musicxml.org/dtds/partwise.dtd\">\n",
    );
    x.push_str("<score-partwise version=\"4.0\">\n");
    let title = escape(&opts.title);
    let _ = writeln!(x, "  <work><work-title>{title}</work-title></work>");
    x.push_str(
        "  <identification><encoding><software>tms</software></encoding></identification>\n",
    );
    x.push_str("  <part-list>\n    <score-part id=\"P1\">\n");
    let _ = writeln!(x, "      <part-name>{title}</part-name>");
    x.push_str("      <score-instrument id=\"P1-I1\"><instrument-name>");
    x.push_str(&escape(
        crate::music::gm::GM_PROGRAMS[usize::from(opts.program.min(127))],
    ));
    x.push_str("</instrument-name></score-instrument>\n");
    let _ = writeln!(
        x,
        "      <midi-instrument id=\"P1-I1\"><midi-channel>{}</midi-channel>\
         <midi-program>{}</midi-program></midi-instrument>",
        opts.channel.min(15) + 1,
        opts.program.min(127) + 1
    );
    x.push_str("    </score-part>\n  </part-list>\n  <part id=\"P1\">\n");

    let mean = line.iter().map(|n| f64::from(n.pitch)).sum::<f64>() / line.len().max(1) as f64;
    let (sign, clef_line) = if !line.is_empty() && mean < BASS_BELOW {
        ("F", 4)
    } else {
        ("G", 2)
    };
    let tempo = super::tempo_text(opts.tempo_bpm);
    let mut acc = BarAccidentals::new(key);
    let mut carried = None;
    // An upbeat is measure 0 and not counted (`implicit`), as notation programs number it.
    let first = if bars.first().is_some_and(|b| b.pickup) {
        0
    } else {
        1
    };
    for (i, bar) in bars.iter().enumerate() {
        acc.bar();
        let implicit = if bar.pickup { " implicit=\"yes\"" } else { "" };
        let _ = writeln!(x, "    <measure number=\"{}\"{implicit}>", i + first);
        if i == 0 {
            let _ = writeln!(
                x,
                "      <attributes>\n        <divisions>{DIVISIONS}</divisions>\n        \
                 <key><fifths>{}</fifths><mode>{}</mode></key>\n        \
                 <time><beats>{}</beats><beat-type>{}</beat-type></time>\n        \
                 <clef><sign>{sign}</sign><line>{clef_line}</line></clef>\n      </attributes>",
                key.fifths,
                key.musicxml_mode(),
                opts.meter.beats,
                opts.meter.unit
            );
            let _ = writeln!(
                x,
                "      <direction placement=\"above\"><direction-type><metronome>\
                 <beat-unit>quarter</beat-unit><per-minute>{tempo}</per-minute></metronome>\
                 </direction-type><sound tempo=\"{tempo}\"/></direction>"
            );
        }
        for item in &bar.items {
            match item {
                Item::Plain(g) => note(&mut x, g, None, key, &mut acc, &mut carried),
                Item::Triplet(gs) => {
                    for (k, g) in gs.iter().enumerate() {
                        let bracket = match (k == 0, k + 1 == gs.len()) {
                            (true, true) => Bracket::Both,
                            (true, false) => Bracket::Start,
                            (false, true) => Bracket::Stop,
                            (false, false) => Bracket::Inside,
                        };
                        note(&mut x, g, Some(bracket), key, &mut acc, &mut carried);
                    }
                }
            }
        }
        if i + 1 == bars.len() {
            x.push_str(
                "      <barline location=\"right\"><bar-style>light-heavy</bar-style></barline>\n",
            );
        }
        x.push_str("    </measure>\n");
    }
    x.push_str("  </part>\n</score-partwise>\n");
    x
}

/// Where a note sits in its triplet's bracket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bracket {
    Start,
    Inside,
    Stop,
    Both,
}

/// Writes one `<note>`. `carried` is the accidental shown where the current tie began: a
/// tied-over note repeats no accidental and sets none for the bar, but carries the first
/// one unprinted, so readers that compare accidentals to join ties (music21) see one pitch.
fn note(
    x: &mut String,
    g: &Glyph,
    bracket: Option<Bracket>,
    key: &Key,
    acc: &mut BarAccidentals,
    carried: &mut Option<i8>,
) {
    let mut accidental = None;
    let mut printed = true;
    match g.sym {
        Sym::Rest => x.push_str("      <note>\n        <rest/>\n"),
        Sym::Note { pitch, velocity } => {
            let s = key.spell(pitch);
            if g.tied_from {
                accidental = *carried;
                printed = false;
            } else {
                accidental = acc.show(&s, false);
                *carried = accidental;
            }
            let dynamics = f64::from(velocity) / 90.0 * 100.0;
            let _ = writeln!(x, "      <note dynamics=\"{dynamics:.2}\">");
            let _ = write!(x, "        <pitch><step>{}</step>", letter(s.letter));
            if s.alter != 0 {
                let _ = write!(x, "<alter>{}</alter>", s.alter);
            }
            let _ = writeln!(x, "<octave>{}</octave></pitch>", s.octave);
        }
    }
    let _ = writeln!(x, "        <duration>{}</duration>", g.sounding);
    if g.tied_from {
        x.push_str("        <tie type=\"stop\"/>\n");
    }
    if g.tie {
        x.push_str("        <tie type=\"start\"/>\n");
    }
    x.push_str("        <voice>1</voice>\n");
    let (kind, dots) = super::value_name(g.written);
    let _ = writeln!(x, "        <type>{kind}</type>");
    for _ in 0..dots {
        x.push_str("        <dot/>\n");
    }
    if let Some(a) = accidental {
        let name = match a {
            2 => "double-sharp",
            1 => "sharp",
            0 => "natural",
            -1 => "flat",
            _ => "flat-flat",
        };
        let hidden = if printed { "" } else { " print-object=\"no\"" };
        let _ = writeln!(x, "        <accidental{hidden}>{name}</accidental>");
    }
    if bracket.is_some() {
        x.push_str(
            "        <time-modification><actual-notes>3</actual-notes>\
             <normal-notes>2</normal-notes></time-modification>\n",
        );
    }
    let mut notations = String::new();
    if g.tied_from {
        notations.push_str("<tied type=\"stop\"/>");
    }
    if g.tie {
        notations.push_str("<tied type=\"start\"/>");
    }
    match bracket {
        Some(Bracket::Start) => notations.push_str("<tuplet type=\"start\" bracket=\"yes\"/>"),
        Some(Bracket::Stop) => notations.push_str("<tuplet type=\"stop\"/>"),
        Some(Bracket::Both) => {
            notations.push_str("<tuplet type=\"start\" bracket=\"yes\"/><tuplet type=\"stop\"/>")
        }
        Some(Bracket::Inside) | None => {}
    }
    if !notations.is_empty() {
        let _ = writeln!(x, "        <notations>{notations}</notations>");
    }
    x.push_str("      </note>\n");
}

/// Text as XML character data.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{write, Format, Options};
    use crate::music::note::Note;
    use crate::music::scale::Scale;

    #[test]
    fn a_score_with_key_time_tie_and_triplet() {
        let t = 1.0 / 6.0;
        let mut melody: Vec<Note> = [(72u8, 0.0, t), (73, t, t), (76, 2.0 * t, t)]
            .iter()
            .map(|&(pitch, start, duration)| Note {
                pitch,
                start,
                duration,
                velocity: 90,
            })
            .collect();
        melody.push(Note {
            pitch: 70,
            start: 0.5,
            duration: 2.0,
            velocity: 90,
        });
        let opts = Options {
            title: "A & B".into(),
            scale: Some(Scale::parse("F major").unwrap()),
            ..Options::default()
        };
        let x = write(Format::MusicXml, &melody, &opts).unwrap().text;
        assert!(x.contains("<work-title>A &amp; B</work-title>"));
        assert!(x.contains("<key><fifths>-1</fifths><mode>major</mode></key>"));
        assert!(x.contains("<time><beats>4</beats><beat-type>4</beat-type></time>"));
        assert!(x.contains("<sound tempo=\"120\"/>"));
        // The triplet: C5, Db5 (a flat key spells it flat, shown), E5; 8 divisions each.
        assert!(x.contains("<pitch><step>D</step><alter>-1</alter><octave>5</octave></pitch>"));
        assert!(x.contains("<accidental>flat</accidental>"));
        assert_eq!(x.matches("<duration>8</duration>").count(), 3);
        assert_eq!(x.matches("<time-modification>").count(), 3);
        assert!(x.contains("<tuplet type=\"start\" bracket=\"yes\"/>"));
        // Bb for 2 s from beat 2: a dotted half tied over the bar line to a quarter.
        assert_eq!(x.matches("<tie type=\"start\"/>").count(), 1);
        assert!(x.contains("<duration>72</duration>"));
        assert!(x.contains("<type>half</type>\n        <dot/>"));
        assert_eq!(x.matches("<measure number=").count(), 2);
        assert_eq!(x.matches("<accidental>").count(), 1, "Bb is in the key");
    }
}
