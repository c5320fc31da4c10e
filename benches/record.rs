//! What a long `record` costs: a synthetic set of `--minutes` minutes (default 120) at
//! `--rate` messages a second (default 50: a dense player, note-ons and note-offs, three
//! sources taking turns, a few notes held at a time), fed to the recorder a second at a
//! time as its writer thread does, with each second's append timed (write, two syncs).
//! Then `record stop`'s final write (the per-source tracks read back from the file).
//!
//! Prints, at 3, 30 and 120 minutes (those within the set): the median and worst append
//! of the minute that ends there, the file's size and the process's peak RSS; then the
//! final write's time, and checks that the final file holds every note fed.
//!
//! Run: `cargo bench --bench record` or `cargo bench --bench record -- --minutes 30
//! --rate 200 --dir /some/disk` (the file goes to a temporary folder in `--dir`, default
//! the system's temporary folder: its disk decides what a sync costs).

use std::sync::Arc;
use std::time::Instant;

use tms::music::meter::Meter;
use tms::perform::record::Manual;

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds this (single-threaded) bench has run, from the kernel's scheduler
/// statistics (nanoseconds).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let minutes: u64 = arg("--minutes", "120").parse().expect("--minutes N");
    let rate: u64 = arg("--rate", "50").parse().expect("--rate N");
    let dir = tempfile::tempdir_in(arg("--dir", &std::env::temp_dir().to_string_lossy()))
        .expect("a temporary folder");
    let path = dir.path().join("set.mid");
    let mut take = Manual::start(&path, false, 120.0, Meter::default()).expect("start");
    let sources: Vec<Arc<str>> = ["main", "bass", "input"].map(Arc::from).to_vec();
    println!(
        "record bench: {minutes} min at {rate} messages/s ({} messages), file in {}",
        minutes * 60 * rate,
        dir.path().display()
    );
    let rss_before = rss_kb("VmRSS:");
    let mut appends: Vec<f64> = Vec::new();
    let mut cpu_at_minute = cpu_seconds();
    let mut notes = 0u64;
    let mut held: Vec<(usize, u8)> = Vec::new();
    let t0 = Instant::now();
    for second in 0..minutes * 60 {
        for k in 0..rate {
            let at = second as f64 + k as f64 / rate as f64;
            let msg = second * rate + k;
            let src = (msg / 8 % 3) as usize;
            // Note-ons and note-offs alternate; up to three notes sound at once.
            if held.len() < 3 && (msg.is_multiple_of(2) || held.is_empty()) {
                let key = 36 + (msg * 7 % 48) as u8;
                take.push_at(&sources[src], &[0x90 | src as u8, key, 90], at);
                held.push((src, key));
                notes += 1;
            } else {
                let (s, key) = held.remove(0);
                take.push_at(&sources[s], &[0x80 | s as u8, key, 0], at);
            }
        }
        let t = Instant::now();
        take.save().expect("append");
        appends.push(t.elapsed().as_secs_f64() * 1e3);
        let minute = second / 60 + 1;
        if second % 60 == 59 {
            let cpu = cpu_seconds();
            let per_second = (cpu - cpu_at_minute) / 60.0 * 1e3;
            cpu_at_minute = cpu;
            if ![3, 30, 120].contains(&minute) {
                continue;
            }
            let last = &mut appends[appends.len() - 60..].to_vec();
            last.sort_by(f64::total_cmp);
            println!(
                "record at {minute} min: append median {:.3} ms, worst {:.3} ms; CPU {per_second:.3} ms a second (feeding included); file {} KB; RSS {} MB (peak {} MB, {} MB at the start)",
                last[30],
                last[59],
                std::fs::metadata(&path).map_or(0, |m| m.len()) / 1024,
                rss_kb("VmRSS:") / 1024,
                rss_kb("VmHWM:") / 1024,
                rss_before / 1024
            );
        }
    }
    let fed = t0.elapsed().as_secs_f64();
    let t = Instant::now();
    let summary = take.finish().expect("the final write");
    let final_ms = t.elapsed().as_secs_f64() * 1e3;
    let peak = rss_kb("VmHWM:") / 1024;
    let written: u64 = summary.tracks.iter().map(|t| t.1 as u64).sum();
    assert_eq!(written, notes, "the final file lost notes");
    let bytes = std::fs::read(&path).unwrap();
    let smf = midly::Smf::parse(&bytes).expect("a valid final file");
    let on_disk = smf.tracks[1..]
        .iter()
        .flatten()
        .filter(|e| {
            matches!(e.kind, midly::TrackEventKind::Midi { message: midly::MidiMessage::NoteOn { vel, .. }, .. } if vel > 0)
        })
        .count() as u64;
    assert_eq!(on_disk, notes, "the final file lost notes");
    println!(
        "record final: {} tracks, {notes} notes, {} KB, written in {final_ms:.1} ms; feeding and appending took {fed:.1} s; peak RSS {peak} MB (before this bench parsed the file to check it)",
        smf.tracks.len(),
        bytes.len() / 1024,
    );
}
