//! A model's weights as libtorch tensors, for what needs gradients or batches: training,
//! learning from the performer, the evaluation protocol, a fresh model's initialisation.
//! The model itself keeps plain numbers (`params.rs`); a [`Torch`] is made from them and
//! writes back what it learned, and a [`Mirror`] keeps one between calls so that the
//! optimizer's state carries on from one `train` to the next.

use tch::{nn, Tensor};

use super::net::Net;
use super::params::{shapes, Param, Params};
use super::{Device, Model, ModelConfig};

/// libtorch's name for a device.
pub(super) fn device(d: Device) -> tch::Device {
    match d {
        Device::Cpu => tch::Device::Cpu,
        Device::Cuda(i) => tch::Device::Cuda(i),
    }
}

/// The tensor network over a copy of a model's weights.
pub(super) struct Torch {
    pub vs: nn::VarStore,
    pub net: Net,
    config: ModelConfig,
}

/// Copies of every variable, to put back later (an epoch's start, the best epoch).
pub(super) type Snapshot = Vec<(String, Tensor)>;

impl Torch {
    /// A fresh network of `config` with PyTorch's default initialisation, drawn from
    /// libtorch's generator seeded with `seed`: the same seed gives the same weights.
    pub fn init(config: ModelConfig, device: Device, seed: u64) -> Torch {
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(self::device(device));
        let net = Net::new(&vs.root(), config);
        Torch { vs, net, config }
    }

    /// Tensors holding `model`'s weights, on its device. Draws nothing from libtorch's
    /// random generator, so making one in the middle of a training run changes nothing.
    pub fn of(model: &Model) -> Torch {
        let vs = nn::VarStore::new(device(model.device()));
        let root = vs.root();
        for p in model.params.iter() {
            let (module, var) = p.name.split_once('.').expect("names are module.var");
            let _ = (&root / module).var_copy(var, &tensor(p, model.device()));
        }
        let net = Net::new_from_store(&vs, model.config);
        Torch {
            vs,
            net,
            config: model.config,
        }
    }

    /// Puts `model`'s weights into these tensors in place (an optimizer over them keeps
    /// its state).
    fn load(&mut self, model: &Model) {
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for p in model.params.iter() {
                let mut v = vars[&p.name].shallow_clone();
                v.copy_(&tensor(p, model.device()));
            }
        });
    }

    /// The weights as plain numbers, in the order of `shapes`.
    pub fn params(&self) -> Params {
        let vars = self.vs.variables();
        Params::new(
            shapes(&self.config)
                .into_iter()
                .map(|(name, shape)| {
                    let data = super::net::floats(&vars[&name]);
                    Param {
                        name,
                        shape: shape.iter().map(|&d| d as usize).collect(),
                        data,
                    }
                })
                .collect(),
        )
    }

    /// Gives `model` these weights.
    pub fn store(&self, model: &mut Model) {
        model.params = self.params();
    }

    pub fn snapshot(&self) -> Snapshot {
        tch::no_grad(|| {
            let mut v: Vec<_> = self
                .vs
                .variables()
                .into_iter()
                .map(|(n, t)| (n, t.detach().copy()))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        })
    }

    pub fn restore(&mut self, snap: &Snapshot) {
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for (name, t) in snap {
                if let Some(v) = vars.get(name) {
                    let mut v = v.shallow_clone();
                    v.copy_(t);
                }
            }
        });
    }
}

fn tensor(p: &Param, device: Device) -> Tensor {
    let shape: Vec<i64> = p.shape.iter().map(|&d| d as i64).collect();
    Tensor::from_slice(&p.data)
        .view(shape.as_slice())
        .to_device(self::device(device))
}

/// Tensors kept in step with a model from call to call.
#[derive(Default)]
pub(super) struct Mirror(Option<Torch>);

impl Mirror {
    /// Tensors holding `model`'s weights: the ones kept, brought up to date in place, or
    /// new ones when there were none or they cannot hold this model (another architecture
    /// or device). Says whether they are new (an optimizer over the old ones is then stale).
    pub fn sync(&mut self, model: &Model) -> (&mut Torch, bool) {
        let fits = matches!(&self.0, Some(t) if t.config == model.config && t.vs.device() == device(model.device()));
        match &mut self.0 {
            // The weights may have changed since (another run, `learn on`, a file): a copy
            // in place costs less than an epoch's first batch and keeps the optimizer's state.
            Some(torch) if fits => torch.load(model),
            slot => *slot = Some(Torch::of(model)),
        }
        (self.0.as_mut().expect("set above"), !fits)
    }
}

impl Model {
    /// A freshly initialised model; the same seed gives the same weights.
    pub fn new(config: ModelConfig, device: Device, seed: u64) -> Model {
        let torch = Torch::init(config, device, seed);
        Model::of_params(config, device, torch.params())
    }
}

/// Fixes libtorch's CPU thread count so that the same script gives the same weights run to
/// run (parallel reductions may split work by thread count). The default is one thread:
/// with the other cores busy (a DAW, a synth, the player thread) libtorch's spinning workers
/// made an epoch 2.1× slower with two threads than with one, while on an idle machine one
/// thread costs 1.5× (BENCHMARKS.md, "Threads on a busy machine"; measured 1.3 s vs 0.9 s idle, 2.2 s vs 3.9–11.4 s busy). `TMS_THREADS` overrides it.
pub fn init_threads() {
    let n = std::env::var("TMS_THREADS")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    tch::set_num_threads(n);
}
