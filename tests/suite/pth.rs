//! The PyTorch state_dict reader against files the real PyTorch wrote
//! (tests/golden/make_pth.py): names, shapes and values must match exactly, and an
//! independent LSTM forward pass over the read tensors must reproduce PyTorch's outputs,
//! which shows every tensor is wired where the notebook's model expects it.

use serde_json::Value;
use tms::model::pth::{is_pth, read_state_dict, RawTensor};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/pth/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn expected() -> Value {
    serde_json::from_slice(&fixture("notebook_expected.json")).expect("expected json")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("dim") as usize)
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn read(name: &str) -> Vec<(String, RawTensor)> {
    let bytes = fixture(name);
    assert!(is_pth(&bytes), "{name} not recognised");
    read_state_dict(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn check_against_json(file: &str) {
    let exp = expected();
    let tensors = exp["tensors"].as_array().expect("tensors");
    let got = read(file);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = tensors
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, want, "{file}: names or order");
    for ((name, t), e) in got.iter().zip(tensors) {
        assert_eq!(t.shape, shape(&e["shape"]), "{file}: {name} shape");
        assert_eq!(
            t.data.len() as u64,
            e["numel"].as_u64().expect("numel"),
            "{name}"
        );
        let first = floats(&e["first"]);
        let last = floats(&e["last"]);
        assert_eq!(
            bits(&t.data[..first.len()]),
            bits(&first),
            "{file}: {name} first"
        );
        assert_eq!(
            bits(&t.data[t.data.len() - last.len()..]),
            bits(&last),
            "{file}: {name} last"
        );
        // Summed in f64 on both sides, so only the order of additions differs.
        let sum: f64 = t.data.iter().map(|&x| x as f64).sum();
        let want = e["sum"].as_f64().expect("sum");
        assert!(
            (sum - want).abs() < 1e-9,
            "{file}: {name} sum {sum} vs {want}"
        );
    }
}

#[test]
fn zip_file_matches_pytorch() {
    check_against_json("notebook_zip.pth");
}

#[test]
fn legacy_file_matches_pytorch() {
    check_against_json("notebook_legacy.pth");
}

/// Names, shapes and the bits of every value, so that equality is exact.
fn fingerprint(tensors: &[(String, RawTensor)]) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shape.clone(), bits(&t.data)))
        .collect()
}

#[test]
fn all_formats_hold_identical_tensors() {
    let zip = fingerprint(&read("notebook_zip.pth"));
    assert_eq!(zip.len(), 10);
    assert!(fingerprint(&read("notebook_legacy.pth")) == zip);
    // float64 values that came from f32 convert back exactly (the file leaves out one
    // large matrix to stay small).
    let without_hh: Vec<_> = zip
        .iter()
        .filter(|(n, _, _)| n != "lstm.weight_hh_l0")
        .cloned()
        .collect();
    assert_eq!(without_hh.len(), 9);
    assert!(fingerprint(&read("notebook_f64.pth")) == without_hh);
}

#[test]
fn strided_and_narrow_views_match_pytorch() {
    let exp = expected();
    let views = exp["views"].as_array().expect("views");
    for file in ["views_zip.pth", "views_legacy.pth"] {
        let got = read(file);
        assert_eq!(got.len(), views.len(), "{file}");
        for ((name, t), e) in got.iter().zip(views) {
            assert_eq!(name, e["name"].as_str().expect("name"), "{file}");
            assert_eq!(t.shape, shape(&e["shape"]), "{file}: {name}");
            assert_eq!(bits(&t.data), bits(&floats(&e["values"])), "{file}: {name}");
        }
    }
}

#[test]
fn damaged_files_are_errors() {
    for file in ["notebook_zip.pth", "notebook_legacy.pth"] {
        let bytes = fixture(file);
        for cut in [0, 1, 10, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                read_state_dict(&bytes[..cut]).is_err(),
                "{file} cut at {cut}"
            );
        }
    }
    let json = fixture("notebook_expected.json");
    assert!(!is_pth(&json));
    match read_state_dict(&json) {
        Err(e) => assert_eq!(e.to_string(), "not a PyTorch file"),
        Ok(_) => panic!("json read as a state_dict"),
    }
}

/// The notebook's model, computed by hand: LSTM(3, 128) with PyTorch's gate order
/// (input, forget, cell, output), then the three heads on the last hidden state.
struct Model {
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b: Vec<f32>,
    heads: Vec<(Vec<f32>, Vec<f32>)>,
    hidden: usize,
}

impl Model {
    fn from(tensors: &[(String, RawTensor)]) -> Model {
        let get = |n: &str| {
            let t = &tensors.iter().find(|(k, _)| k == n).expect(n).1;
            t.data.clone()
        };
        let b_ih = get("lstm.bias_ih_l0");
        let b_hh = get("lstm.bias_hh_l0");
        let heads = ["pitch_linear", "step_linear", "duration_linear"]
            .iter()
            .map(|h| (get(&format!("{h}.weight")), get(&format!("{h}.bias"))))
            .collect();
        Model {
            w_ih: get("lstm.weight_ih_l0"),
            w_hh: get("lstm.weight_hh_l0"),
            b: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
            heads,
            hidden: b_ih.len() / 4,
        }
    }

    fn forward(&self, window: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let hn = self.hidden;
        let input = window[0].len();
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        let (mut h, mut c) = (vec![0f32; hn], vec![0f32; hn]);
        for x in window {
            let gates: Vec<f32> = (0..4 * hn)
                .map(|r| {
                    let wi = &self.w_ih[r * input..(r + 1) * input];
                    let wh = &self.w_hh[r * hn..(r + 1) * hn];
                    self.b[r]
                        + wi.iter().zip(x).map(|(w, v)| w * v).sum::<f32>()
                        + wh.iter().zip(&h).map(|(w, v)| w * v).sum::<f32>()
                })
                .collect();
            for j in 0..hn {
                let i = sigmoid(gates[j]);
                let f = sigmoid(gates[hn + j]);
                let g = gates[2 * hn + j].tanh();
                let o = sigmoid(gates[3 * hn + j]);
                c[j] = f * c[j] + i * g;
                h[j] = o * c[j].tanh();
            }
        }
        self.heads
            .iter()
            .map(|(w, b)| {
                (0..b.len())
                    .map(|r| {
                        b[r] + w[r * hn..(r + 1) * hn]
                            .iter()
                            .zip(&h)
                            .map(|(a, v)| a * v)
                            .sum::<f32>()
                    })
                    .collect()
            })
            .collect()
    }
}

#[test]
fn hand_written_forward_pass_reproduces_pytorch() {
    let exp = expected();
    let window: Vec<Vec<f32>> = exp["input"][0]
        .as_array()
        .expect("input")
        .iter()
        .map(floats)
        .collect();
    assert_eq!((window.len(), window[0].len()), (25, 3));
    for file in ["notebook_zip.pth", "notebook_legacy.pth"] {
        let model = Model::from(&read(file));
        let out = model.forward(&window);
        let pitch: Vec<f32> = out[0].iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect();
        let want_pitch = floats(&exp["pitch"]);
        assert_eq!(pitch.len(), 128);
        for (k, (a, b)) in pitch.iter().zip(&want_pitch).enumerate() {
            assert!((a - b).abs() < 1e-5, "{file}: pitch[{k}] {a} vs {b}");
        }
        let step = exp["step"].as_f64().expect("step") as f32;
        let duration = exp["duration"].as_f64().expect("duration") as f32;
        assert!(
            (out[1][0] - step).abs() < 1e-5,
            "{file}: step {} vs {step}",
            out[1][0]
        );
        assert!(
            (out[2][0] - duration).abs() < 1e-5,
            "{file}: duration {} vs {duration}",
            out[2][0]
        );
    }
}

#[test]
fn the_opened_model_predicts_what_pytorch_predicts() {
    let exp = expected();
    // The window holds (pitch/128, step, duration); pitches are whole numbers.
    let notes: Vec<(u8, f64, f64)> = exp["input"][0]
        .as_array()
        .expect("input")
        .iter()
        .map(|row| {
            let v = floats(row);
            ((v[0] * 128.0).round() as u8, v[1] as f64, v[2] as f64)
        })
        .collect();
    for file in ["notebook_zip.pth", "notebook_legacy.pth"] {
        let model = tms::model::Model::from_notebook_state_dict(read(file)).expect(file);
        let got = model.predict_next(&notes);
        let want = floats(&exp["pitch"]);
        for (k, (a, b)) in got.pitch.iter().zip(&want).enumerate() {
            assert!((a - b).abs() < 1e-5, "{file}: pitch[{k}] {a} vs {b}");
        }
        let step = exp["step"].as_f64().expect("step");
        let duration = exp["duration"].as_f64().expect("duration");
        assert!(
            (got.step - step).abs() < 1e-5,
            "{file}: step {} vs {step}",
            got.step
        );
        assert!(
            (got.duration - duration).abs() < 1e-5,
            "{file}: duration {} vs {duration}",
            got.duration
        );
    }
}
