//! tms attacked as an unfriendly user would: crafted files that claim more than they hold,
//! special files as targets, a full disk, symlink loops, huge lines and melodies. Every case
//! is built here (nothing large is committed) and checked as the user meets it: no panic
//! (exit status 101), a one-line reason, memory bounded by a limit the child runs under,
//! targets left as they were, no temporary file left behind.

use crate::support;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use support::{root, Run};

/// Runs `tms -c SCRIPT` in `dir` with its address space limited to `limit_mb` (libtorch
/// alone maps about 600 MB), under a watchdog so a hang fails instead of blocking the suite.
pub(crate) fn tms_limited(dir: &Path, script: &str, limit_mb: u64) -> Run {
    let out = Command::new("bash")
        .args([
            "-c",
            r#"ulimit -v $(($0 * 1024)) && exec timeout 300 "$1" -c "$2""#,
            &limit_mb.to_string(),
            env!("CARGO_BIN_EXE_tms"),
            script,
        ])
        .current_dir(dir)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("bash runs");
    let run = Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    };
    // An abort (failed allocation) is SIGABRT: no exit code, so -1 here.
    assert_ne!(run.code, -1, "tms was killed by a signal:\n{}", run.stderr);
    assert_ne!(run.code, 101, "tms panicked:\n{}", run.stderr);
    assert_ne!(run.code, 124, "tms hung:\n{}", run.stderr);
    run
}

fn tms(dir: &Path, script: &str) -> Run {
    tms_limited(dir, script, 4096)
}

/// Files in `dir` that look like tms's temporary files.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tms-"))
        .collect()
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// The safetensors layout: header length, JSON header, data.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn a_tiny_model_file_claiming_a_huge_network_fails_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let meta = r#"{"__metadata__":{"format":"tms-model","format_version":"1","hidden":"4096","layers":"8","embed":"32","input":"embed","head":"softmax","pointer":"off","epochs":"0"}}"#;
    std::fs::write(dir.path().join("bomb.safetensors"), safetensors(meta, b"")).unwrap();
    // The network it claims is 4.2 GB; 1.5 GB of address space is what tms itself needs.
    let run = tms_limited(dir.path(), r#"model "bomb.safetensors""#, 1536);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot open model `bomb.safetensors`: tensor `embed.weight`: missing"),
        "{}",
        run.stderr
    );
}

#[test]
fn nan_weights_are_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms(
        dir.path(),
        r#"set hidden 8; set layers 1; model new; save "m.safetensors""#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let path = dir.path().join("m.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header]).unwrap();
    // Poison the first value of the tensor stored first.
    let (name, first) = json
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.get("data_offsets")?[0].as_u64()?)))
        .min_by_key(|(_, at)| *at)
        .unwrap();
    let at = 8 + header + first as usize;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let run = tms(dir.path(), r#"model "m.safetensors""#);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "cannot open model `m.safetensors`: tensor `{name}`: value 0 is NaN"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_pickle_of_empty_dicts_stays_within_ten_times_its_size() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut pickle = vec![0x80, 2];
    pickle.resize(20 << 20, b'}');
    pickle.push(b'.');
    let file = std::fs::File::create(dir.path().join("bomb.pth")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    zip.start_file("bomb/data.pkl", stored).unwrap();
    zip.write_all(&pickle).unwrap();
    zip.finish().unwrap();
    // The old reader took 2.8 GB; tms (about 600 MB) plus 10x the file fits in 1 GB.
    let run = tms_limited(dir.path(), r#"model "bomb.pth""#, 1024);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let size = std::fs::metadata(dir.path().join("bomb.pth"))
        .unwrap()
        .len();
    assert!(
        run.stderr
            .contains("cannot read PyTorch file `bomb.pth`: the pickle at byte ")
            && run.stderr.contains(&format!(
                "builds more objects than a file of {size} bytes can hold"
            )),
        "{}",
        run.stderr
    );
}

#[test]
fn special_files_are_never_read_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("pipe.mid"));
    let run = tms(dir.path(), r#"prime "pipe.mid""#);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "cannot read `pipe.mid`: a named pipe (FIFO), not a regular file (tms reads only regular files)"
        ),
        "{}",
        run.stderr
    );
    let run = tms_limited(dir.path(), r#"model "/dev/zero""#, 1024);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "cannot read `/dev/zero`: a character device, not a regular file (tms reads only regular files)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn special_targets_are_refused_and_left_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    mkfifo(&d.join("pipe.mid"));
    std::os::unix::fs::symlink("/dev/null", d.join("null.mid")).unwrap();
    for (target, kind) in [
        ("pipe.mid", "a named pipe (FIFO)"),
        ("null.mid", "a character device"),
    ] {
        let run = tms(d, &format!(r#"prime notes "C4 D4"; write "{target}""#));
        assert_eq!(run.code, 1, "{target}");
        assert!(
            run.stderr.contains(&format!(
                "cannot write `{target}`: {kind}, not a regular file (tms writes only regular files)"
            )),
            "{}",
            run.stderr
        );
    }
    assert!(std::fs::symlink_metadata(d.join("pipe.mid"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::read_link(d.join("null.mid")).unwrap(),
        Path::new("/dev/null")
    );
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(temporaries(d).is_empty());
}

#[test]
fn a_symlink_target_is_written_through_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("real")).unwrap();
    std::fs::write(d.join("real/tune.mid"), b"old").unwrap();
    std::os::unix::fs::symlink("real/tune.mid", d.join("tune.mid")).unwrap();
    let run = tms(
        d,
        r#"prime notes "C4 D4 E4"; write "tune.mid"; load "real/tune.mid""#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::symlink_metadata(d.join("tune.mid"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read(d.join("real/tune.mid"))
        .unwrap()
        .starts_with(b"MThd"));
    assert!(temporaries(d).is_empty() && temporaries(&d.join("real")).is_empty());
}

/// A MIDI file of `n` quarter-second notes, written by tms's own writer.
fn long_midi(path: &Path, n: usize) {
    let notes: Vec<tms::music::note::Note> = (0..n)
        .map(|i| tms::music::note::Note {
            pitch: 60 + (i % 12) as u8,
            start: i as f64 * 0.25,
            duration: 0.25,
            velocity: 90,
        })
        .collect();
    let bytes = tms::music::midi::write_midi(&notes, &Default::default());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_full_disk_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "skipped: cannot mount a small tmpfs ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: cannot run mount ({e})");
            return;
        }
    }
    long_midi(&dir.path().join("tune.mid"), 200);
    // Fill the disk to the last byte.
    {
        use std::io::Write as _;
        let mut filler = std::fs::File::create(full.join("filler")).unwrap();
        while filler.write_all(&[0u8; 1024]).is_ok() {}
    }
    let mut runs = Vec::new();
    for (script, target) in [
        (
            r#"prime "tune.mid" last 200; write "full/x.mid""#,
            "full/x.mid",
        ),
        (r#"load "tune.mid"; export "full/x.csv""#, "full/x.csv"),
        (r#"seed 1; history "full/h.tms""#, "full/h.tms"),
    ] {
        runs.push((tms(dir.path(), script), target));
    }
    let left = temporaries(&full);
    let names: Vec<String> = std::fs::read_dir(&full)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let _ = Command::new("umount").arg(&full).status();
    for (run, target) in runs {
        assert_eq!(run.code, 1, "{target}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("cannot write `{target}`: no space left on device")),
            "{}",
            run.stderr
        );
    }
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(names, ["filler"]);
}

#[test]
fn ctrl_c_during_a_render_leaves_no_partial_file() {
    let Some(sf) = tms::render::find_soundfont() else {
        eprintln!("skipped: no SoundFont installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tms"))
        .args([
            "-c",
            &format!(
                r#"prime notes "{}"; render "long.wav" soundfont "{}""#,
                // 10,000 s, in notes of the longest inline length.
                "C4*64 ".repeat(313),
                sf.display()
            ),
        ])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the temporary file: the render has started.
    let started = Instant::now();
    while temporaries(dir.path()).is_empty() && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: `long.wav` was not written"),
        "{stderr}"
    );
    assert!(temporaries(dir.path()).is_empty());
    assert!(!dir.path().join("long.wav").exists());
}

#[test]
fn globs_through_symlink_loops_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    let midi = root().join("tests/fixtures/midi/edge_overlaps.mid");
    std::fs::copy(&midi, d.join("a/one.mid")).unwrap();
    std::fs::copy(&midi, d.join("a/b/two.mid")).unwrap();
    std::os::unix::fs::symlink("..", d.join("a/up")).unwrap();
    std::os::unix::fs::symlink("..", d.join("a/b/up")).unwrap();
    let run = tms(dir.path(), r#"load "d/**/*.mid""#);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("2 files"), "{}", run.stdout);
}

#[test]
fn what_write_writes_load_reads_even_past_the_tick_limit() {
    let dir = tempfile::tempdir().unwrap();
    // D4 at 15,000 s: 14.4 million ticks at the default 480 per quarter.
    let run = tms(
        dir.path(),
        &format!(
            r#"prime notes "C4 {}D4"; write "l.mid"; load "l.mid""#,
            "r*64 ".repeat(469)
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("loaded 1 file, 1 tune, 2 notes"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_primer_of_half_a_million_notes_generates() {
    let dir = tempfile::tempdir().unwrap();
    long_midi(&dir.path().join("long.mid"), 530_000);
    let run = tms(
        dir.path(),
        r#"seed 1; set hidden 16; set layers 1; model new; prime "long.mid" last 530000; generate 1"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("primer: 530000 notes"),
        "{}",
        run.stdout
    );
}

#[test]
fn long_lines_parse_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("semis.tms"), ";".repeat(10 << 20)).unwrap();
    std::fs::write(d.join("cmds.tms"), "seed 1;".repeat(200_000)).unwrap();
    for (file, expect) in [
        ("semis.tms", "semis.tms: ok (0 commands)"),
        ("cmds.tms", "cmds.tms: ok (200000 commands)"),
    ] {
        let started = Instant::now();
        let run = support::tms_in(d, &["check", file], "");
        // Measured, not asserted (timings are flaky); BENCHMARKS.md records the numbers.
        eprintln!("tms check {file}: {:.2} s", started.elapsed().as_secs_f64());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains(expect), "{}", run.stdout);
    }
    // Every error of a script is rendered with its line: 40,000 of them took 19 s.
    std::fs::write(d.join("bad.tms"), "sed 1\n".repeat(40_000)).unwrap();
    let started = Instant::now();
    let run = support::tms_in(d, &["check", "bad.tms"], "");
    eprintln!(
        "tms check bad.tms: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.ends_with("bad.tms: 40000 errors\n"),
        "{}",
        &run.stderr[run.stderr.len().saturating_sub(200)..]
    );
}
