//! The plain-Rust stepper (the `tms-step` crate) checked against the tensor network it
//! was built from: the two paths must give the same notes.
use tch::Tensor;

use super::torch::Torch;
use super::{Head, Input, ModelConfig};

#[test]
fn the_stepper_follows_the_tensor_network_past_the_pointer_memory() {
    // The folk model's shapes (random weights), a melody twice as long as the pointer's
    // memory with leaps beyond the interval range, both paths reading one note at a time.
    let cfg = ModelConfig {
        hidden: 256,
        layers: 1,
        input: Input::Embed,
        head: Head::Softmax,
        embed: 32,
        pointer: true,
        position: true,
        degree: true,
        rhythm: super::Rhythm::Regression,
    };
    let torch = Torch::init(cfg, crate::model::Device::Cpu, 11);
    let net = &torch.net;
    let n = 150;
    let pitches: Vec<i64> = (0..n)
        .map(|i| [60, 62, 64, 67, 30, 90, 64, 62][i % 8] + (i / 8 % 3) as i64)
        .collect();
    let timing: Vec<f32> = (0..n)
        .flat_map(|i| [0.25 + 0.05 * (i % 4) as f32, 0.2])
        .collect();
    let p = Tensor::from_slice(&pitches).view([1, n as i64]);
    let context: Vec<i64> = (0..n as i64)
        .flat_map(|i| {
            [
                (i * 7) % super::position::POSITIONS as i64,
                (i * 5) % super::position::DEGREES as i64,
            ]
        })
        .collect();
    let pos = Tensor::from_slice(&context).view([1, n as i64, 2]);
    let t = Tensor::from_slice(&timing).view([1, n as i64, 2]);
    tch::no_grad(|| {
        let (_, mut state) = net.forward(
            &p.narrow(1, 0, 4),
            &pos.narrow(1, 0, 4),
            &t.narrow(1, 0, 4),
            &net.zero_state(1),
            0.0,
            0,
        );
        let stepper = torch.params().stepper(
            &cfg,
            super::step::Precision::F32,
            super::params::POINTER_MEMORY as usize,
        );
        let mut s = state.row();
        for i in 4..n {
            let (want, next) = net.forward(
                &p.narrow(1, i as i64, 1),
                &pos.narrow(1, i as i64, 1),
                &t.narrow(1, i as i64, 1),
                &state,
                0.0,
                0,
            );
            state = next;
            let x = super::step::NoteIn {
                pitch: pitches[i] as u8,
                position: context[2 * i] as usize,
                degree: context[2 * i + 1] as usize,
                step: timing[2 * i],
                duration: timing[2 * i + 1],
            };
            let got = stepper.read(&mut s, x);
            let logits: Vec<f32> = Vec::try_from(want.logits.view(-1)).expect("logits");
            for (k, (a, b)) in got.logits.iter().zip(&logits).enumerate() {
                assert!((a - b).abs() < 1e-4, "note {i} pitch {k}: {a} vs {b}");
            }
            let step = want.step.double_value(&[0, 0]);
            assert!(
                (got.step - step).abs() < 1e-5,
                "note {i}: step {} vs {step}",
                got.step
            );
            let duration = want.duration.double_value(&[0, 0]);
            assert!((got.duration - duration).abs() < 1e-5, "note {i}: duration");
        }
        assert_eq!(
            s.keys.len(),
            64,
            "the pointer remembers its memory's worth of notes"
        );
        assert_eq!(s.pitches.len(), 64);
    });
}
