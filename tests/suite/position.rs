//! `position on`: the network reads where each note falls in its bar. What a user can see
//! of it: the classes `export … positions` writes (the same the network reads), and a model
//! that reads them trains, saves, opens and generates reproducibly, and hears the meter.

use crate::support::*;

fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let k = header.iter().position(|h| *h == name).expect("the column");
    lines
        .map(|l| l.split(',').nth(k).unwrap().to_string())
        .collect()
}

#[test]
fn export_positions_counts_from_the_bar_lines_upbeat_included() {
    let dir = tempfile::tempdir().unwrap();
    // 3/4 with a quarter-note upbeat; a second tune in 6/8 from its bar line; a third
    // without a meter.
    std::fs::write(
        dir.path().join("t.abc"),
        "X:1\nM:3/4\nL:1/4\nK:C\nC|DEF|G2A|\n\nX:2\nM:6/8\nL:1/8\nK:C\nCDE FGA|c6|\n\nX:3\nL:1/4\nK:C\nCDEF|\n",
    )
    .unwrap();
    let run = tms_c_in(
        dir.path(),
        "load \"t.abc\"; export \"p.csv\" positions; export \"plain.csv\"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let csv = std::fs::read_to_string(dir.path().join("p.csv")).unwrap();
    assert!(
        csv.starts_with("source,pitch,start,step,duration,velocity,position\n"),
        "{csv}"
    );
    // beat × 13 + twelfths of the beat; 156: no meter.
    let want = [
        26, 0, 13, 26, 0, 26, // 3/4: the upbeat is the third beat
        0, 4, 8, 13, 17, 21, 0, // 6/8: two dotted-quarter beats, eighths a third apart
        156, 156, 156, 156,
    ];
    let got: Vec<i64> = column(&csv, "position")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(got, want);
    // Without the word the export is the contract's, column for column.
    let plain = std::fs::read_to_string(dir.path().join("plain.csv")).unwrap();
    assert!(plain.starts_with("source,pitch,start,step,duration,velocity\n"));
    let strip = |s: &str| -> String {
        s.lines()
            .skip(1)
            .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
            .collect()
    };
    assert_eq!(
        strip(&csv),
        plain
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}

/// A small model trained on the primers (`set position SWITCH`), a primer read, then
/// `TAIL`.
fn script(switch: &str, tail: &str) -> String {
    format!(
        "seed 5; device cpu; load \"{root}/samples/*.mid\"; set val 0; set hidden 32; set embed 8; set seq_len 16; set batch 8; set position {switch}; model new; train 2; save \"m.safetensors\"; prime \"{root}/samples/little_star.mid\" last 8; {tail}",
        root = root().display()
    )
}

/// The notes `generate 32` makes off the grid in `meter` (so that only the network could
/// tell the meters apart), with the run's output and directory.
fn melody(switch: &str, meter: &str) -> (Vec<tms::music::note::Note>, Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tail = format!("set grid off; set meter \"{meter}\"; generate 32; write \"a.mid\"; model");
    let run = tms_c_in(dir.path(), &script(switch, &tail));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let bytes = std::fs::read(dir.path().join("a.mid")).unwrap();
    (tms::music::midi::read_midi(&bytes).unwrap(), run, dir)
}

#[test]
fn a_model_that_reads_positions_replays_and_hears_the_meter() {
    let (four, run, dir) = melody("on", "4/4");
    assert!(
        run.stdout
            .contains("input embed 8 with positions in the bar"),
        "{}",
        run.stdout
    );
    assert_eq!(melody("on", "4/4").0, four, "not reproducible");
    // The same primer read in other bars starts another melody.
    assert_ne!(
        melody("on", "3/4").0,
        four,
        "3/4 generated what 4/4 did: the positions do not reach the network"
    );
    // A model without positions cannot tell (the control for the line above).
    assert_eq!(melody("off", "3/4").0, melody("off", "4/4").0);
    // The file says so, and a fresh process opens it as such.
    let run = tms_c_in(dir.path(), "model \"m.safetensors\"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("with positions in the bar"),
        "{}",
        run.stdout
    );
}
