//! Mutations of real files through every reader of untrusted bytes: MIDI, ABC, tms's
//! safetensors model files and PyTorch pickles. A reader may refuse a file, never panic.
//! Edits (overwritten bytes, cut-outs, duplicated spans, truncation) lean towards each
//! file's head, where the lengths and counts that drive allocation live.
//!
//! `make test` runs a bounded number of cases per reader; `make fuzz` runs the campaign
//! (FUZZ_CASES per reader) recorded with its peak memory in BENCHMARKS.md.

use proptest::prelude::*;
use proptest::sample::Index;

use crate::support;
use support::root;

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[derive(Clone, Debug)]
enum Edit {
    Set(Index, u8),
    /// A byte set near the head (the first 4 KiB).
    SetHead(Index, u8),
    Remove(Index, Index),
    Duplicate(Index, Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::SetHead(i, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, n)| Edit::Remove(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ];
    proptest::collection::vec(edit, 1..6)
}

fn mutate(mut f: Vec<u8>, edits: &[Edit], cut: &Index) -> Vec<u8> {
    for e in edits {
        if f.is_empty() {
            break;
        }
        match *e {
            Edit::Set(ref i, b) => {
                let at = i.index(f.len());
                f[at] = b;
            }
            Edit::SetHead(ref i, b) => {
                let at = i.index(f.len().min(4096));
                f[at] = b;
            }
            Edit::Remove(ref i, ref n) => {
                let at = i.index(f.len());
                let n = n.index((f.len() - at).min(64) + 1);
                f.drain(at..at + n);
            }
            Edit::Duplicate(ref i, ref n) => {
                let at = i.index(f.len());
                let n = n.index((f.len() - at).min(64) + 1);
                let span = f[at..at + n].to_vec();
                f.splice(at..at, span);
            }
        }
    }
    // Most cases keep the whole file; the rest are cut short somewhere.
    let keep = cut.index(4 * f.len() + 1).min(f.len());
    f.truncate(keep);
    f
}

const ESSEN: &str = "datasets/essen/han1.abc";

fn pick<'a>(files: &'a [Vec<u8>], which: &Index) -> &'a [u8] {
    &files[which.index(files.len())]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), ..ProptestConfig::default() })]

    #[test]
    fn mutated_midi_files_never_panic(which in any::<Index>(), e in edits(), cut in any::<Index>()) {
        thread_local! {
            static FILES: Vec<Vec<u8>> = std::fs::read_dir(root().join("tests/fixtures/midi"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "mid"))
                .map(|p| std::fs::read(p).unwrap())
                .collect();
        }
        let f = FILES.with(|fs| mutate(pick(fs, &which).to_vec(), &e, &cut));
        let _ = tms::music::midi::read_midi(&f);
    }

    #[test]
    fn mutated_abc_files_never_panic(e in edits(), cut in any::<Index>()) {
        thread_local! {
            // The head of a real collection (fetched by `make essen`): many tunes, most
            // constructs the reader knows.
            static FILE: Option<Vec<u8>> = std::fs::read(root().join(ESSEN))
                .ok()
                .map(|b| b.into_iter().take(16 << 10).collect());
        }
        let Some(f) = FILE.with(|f| f.as_ref().map(|f| mutate(f.clone(), &e, &cut))) else {
            eprintln!("skipped: {ESSEN} is missing (run `make essen`)");
            return Ok(());
        };
        let _ = tms::music::abc::parse_abc(&String::from_utf8_lossy(&f), "fuzz.abc");
    }

    #[test]
    fn mutated_pickles_never_panic(which in any::<Index>(), e in edits(), cut in any::<Index>()) {
        thread_local! {
            static FILES: Vec<Vec<u8>> = ["views_zip.pth", "views_legacy.pth", "notebook_zip.pth", "notebook_legacy.pth"]
                .iter()
                .map(|n| read(&format!("tests/fixtures/pth/{n}")))
                .collect();
        }
        let f = FILES.with(|fs| mutate(pick(fs, &which).to_vec(), &e, &cut));
        let _ = tms::model::pth::read_state_dict(&f);
    }
}

proptest! {
    // Opening a model builds a network, so fewer cases than the parsers.
    #![proptest_config(ProptestConfig { cases: cases(60), ..ProptestConfig::default() })]

    #[test]
    fn mutated_model_files_never_panic(e in edits(), cut in any::<Index>()) {
        thread_local! {
            static FILE: Vec<u8> = read("models/folk.safetensors");
        }
        let f = FILE.with(|f| mutate(f.clone(), &e, &cut));
        let _ = tms::model::Model::from_bytes(&f, tms::model::Device::Cpu);
    }
}
