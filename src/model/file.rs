//! Model files. tms's own: one safetensors file whose metadata holds every architecture
//! setting, the normalisation, the training settings and the tms version, so a model is
//! rebuilt from the file alone. Written atomically through `crate::fsio`, so a kill at any
//! moment leaves the previous file whole. Also the notebook's PyTorch
//! state_dict, mapped onto the same network.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::params::{self, Param, Params};
use super::pth::RawTensor;
use super::{Device, Head, Input, Model, ModelConfig, Rhythm, PITCH_SCALE};
use crate::ground::value::Switch;

/// The `format` metadata value that marks a tms model file.
const FORMAT: &str = "tms-model";
const FORMAT_VERSION: &str = "1";
/// The metadata key of the grid of the data the model learned from (`1/16`, or `off`).
const DATA_GRID: &str = "data.grid";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{0}")]
    Io(String),
    #[error("not a model file: {0}")]
    NotSafetensors(String),
    /// Melodies, not weights: the likeliest slip is `model "tune.mid"` for `prime`.
    #[error("a {0} file, not a model: use `prime` for a primer or `load` for a dataset")]
    Music(&'static str),
    #[error("a safetensors file, but not a tms model (no `format: {FORMAT}` in its metadata)")]
    NotTms,
    #[error("model file format version {0} is newer than this tms understands ({FORMAT_VERSION})")]
    Version(String),
    #[error("metadata `{key}`: {problem}")]
    Metadata { key: String, problem: String },
    #[error("tensor `{name}`: {problem}")]
    Tensor { name: String, problem: String },
}

fn io(e: std::io::Error) -> ModelError {
    ModelError::Io(crate::fsio::io_reason(&e))
}

impl Model {
    /// Writes the model to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let bytes = self.to_bytes()?;
        crate::fsio::write(path, &bytes).map_err(io)
    }

    pub(super) fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .params
            .iter()
            .map(|p| {
                let bytes = p.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (p.name.clone(), p.shape.clone(), bytes)
            })
            .collect();
        let views = data
            .iter()
            .map(|(n, s, b)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| ModelError::Tensor {
                        name: n.clone(),
                        problem: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = safetensors::serialize(views, Some(self.metadata()))
            .map_err(|e| ModelError::Io(e.to_string()))?;
        Ok(sort_header(bytes))
    }

    fn metadata(&self) -> HashMap<String, String> {
        let c = &self.config;
        let mut m = HashMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("format", FORMAT.into());
        put("format_version", FORMAT_VERSION.into());
        put("tms_version", env!("CARGO_PKG_VERSION").into());
        put("hidden", c.hidden.to_string());
        put("layers", c.layers.to_string());
        put("embed", c.embed.to_string());
        put("input", c.input.name().into());
        put("head", c.head.name().into());
        let pointer = if c.pointer { Switch::On } else { Switch::Off };
        put("pointer", pointer.name().into());
        if c.position {
            put("position", Switch::On.name().into());
        }
        if c.degree {
            put("degree", Switch::On.name().into());
        }
        put("rhythm", c.rhythm.name().into());
        let features = match (c.input, c.position, c.degree) {
            (Input::Embed, true, true) => "pitch,interval,step,duration,position,degree",
            (Input::Embed, true, false) => "pitch,interval,step,duration,position",
            (Input::Embed, false, true) => "pitch,interval,step,duration,degree",
            (Input::Embed, false, false) => "pitch,interval,step,duration",
            (Input::Scalar, ..) => "pitch,step,duration",
        };
        put("features", features.into());
        put("pitch_scale", PITCH_SCALE.to_string());
        put("time_unit", "seconds".into());
        put("epochs", self.epochs.to_string());
        if let Some(g) = self.data_grid {
            put(DATA_GRID, crate::music::grid::name(g));
        }
        if self.trained_with.is_none() {
            for (k, v) in &self.trained_record {
                put(k, v.clone());
            }
        }
        if let Some(t) = &self.trained_with {
            put("train.seq_len", t.seq_len.to_string());
            put("train.batch", t.batch.to_string());
            put("train.lr", t.lr.to_string());
            put("train.lr_decay", t.lr_decay.to_string());
            put("train.optimizer", t.optimizer.name().into());
            put("train.objective", t.objective.name().into());
            put(
                "train.loss",
                format!(
                    "pitch {} step {} duration {}",
                    t.loss.pitch, t.loss.step, t.loss.duration
                ),
            );
            put("train.clip", t.clip.to_string());
            put("train.dropout", t.dropout.to_string());
            put("train.augment", t.augment.to_string());
            put("train.val", t.val.to_string());
            put("train.keep", t.keep.name().into());
        }
        m
    }

    /// Opens a file written by `save`.
    pub fn open(path: &Path, device: Device) -> Result<Model, ModelError> {
        let bytes = crate::fsio::read(path).map_err(io)?;
        Model::from_bytes(&bytes, device)
    }

    pub fn from_bytes(bytes: &[u8], device: Device) -> Result<Model, ModelError> {
        if bytes.starts_with(b"MThd")
            || bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"RMID")
        {
            return Err(ModelError::Music("MIDI"));
        }
        if bytes.starts_with(b"X:") || bytes.starts_with(b"%abc") {
            return Err(ModelError::Music("ABC"));
        }
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| ModelError::NotSafetensors(e.to_string()))?;
        let (_, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| ModelError::NotSafetensors(e.to_string()))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(ModelError::NotTms);
        }
        let version = meta.get("format_version").cloned().unwrap_or_default();
        if version != FORMAT_VERSION {
            return Err(ModelError::Version(version));
        }
        let int = |k: &str, lo: i64, hi: i64| -> Result<i64, ModelError> {
            let bad = |p: &str| ModelError::Metadata {
                key: k.into(),
                problem: p.into(),
            };
            let v = meta.get(k).ok_or_else(|| bad("missing"))?;
            let n: i64 = v
                .parse()
                .map_err(|_| bad(&format!("`{v}` is not a whole number")))?;
            if !(lo..=hi).contains(&n) {
                return Err(bad(&format!("{n} is outside {lo}..={hi}")));
            }
            Ok(n)
        };
        // The same names `set` takes: the settings table's choice enums parse them.
        fn parse_choice<T>(
            meta: &HashMap<String, String>,
            k: &str,
            parse: fn(&str) -> Option<T>,
        ) -> Result<T, ModelError> {
            let v = meta.get(k).ok_or_else(|| ModelError::Metadata {
                key: k.into(),
                problem: "missing".into(),
            })?;
            parse(v).ok_or_else(|| ModelError::Metadata {
                key: k.into(),
                problem: format!("unknown value `{v}`"),
            })
        }
        let config = ModelConfig {
            hidden: int("hidden", 1, 4096)?,
            layers: int("layers", 1, 8)?,
            embed: int("embed", 1, 1024)?,
            input: parse_choice(&meta, "input", Input::parse)?,
            head: parse_choice(&meta, "head", Head::parse)?,
            pointer: parse_choice(&meta, "pointer", Switch::parse)? == Switch::On,
            // Files written before positions existed read none.
            position: match meta.get("position") {
                Some(_) => parse_choice(&meta, "position", Switch::parse)? == Switch::On,
                None => false,
            },
            degree: match meta.get("degree") {
                Some(_) => parse_choice(&meta, "degree", Switch::parse)? == Switch::On,
                None => false,
            },
            // Files written before the grid heads existed have regression heads.
            rhythm: match meta.get("rhythm") {
                Some(_) => parse_choice(&meta, "rhythm", Rhythm::parse)?,
                None => Rhythm::Regression,
            },
        };
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(ModelError::Tensor {
                    name,
                    problem: format!("dtype {:?}, expected F32", view.dtype()),
                });
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();

            tensors.insert(
                name,
                RawTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        let mut model = Model::with_weights(config, device, tensors)?;
        model.epochs = int("epochs", 0, i64::MAX)? as usize;
        model.origin = "opened".into();
        model.data_grid = match meta.get(DATA_GRID) {
            None => None,
            Some(v) => Some(crate::music::grid::Grid::parse_optional(v).map_err(|e| {
                ModelError::Metadata {
                    key: DATA_GRID.into(),
                    problem: e.to_string(),
                }
            })?),
        };
        model.trained_record = meta
            .iter()
            .filter(|(k, _)| k.starts_with("train."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(model)
    }

    /// Builds a model of `config` and fills it with `tensors`, which must be exactly the
    /// network's variables with exactly its shapes. They are checked before the network is
    /// built: its size comes from the file's claims (`hidden 4096, layers 8` is gigabytes),
    /// so a small file that lies must fail before it costs memory.
    fn with_weights(
        config: ModelConfig,
        device: Device,
        tensors: HashMap<String, RawTensor>,
    ) -> Result<Model, ModelError> {
        let shapes = params::shapes(&config);
        for (name, shape) in &shapes {
            let raw = tensors.get(name).ok_or_else(|| ModelError::Tensor {
                name: name.clone(),
                problem: "missing".into(),
            })?;
            let want: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            if raw.shape != want {
                return Err(ModelError::Tensor {
                    name: name.clone(),
                    problem: format!("shape {:?}, expected {:?}", raw.shape, want),
                });
            }
            // A NaN or infinite weight spreads through every step: the melody would be
            // pitch 127 or an endless note, so the file is refused instead.
            if let Some(i) = raw.data.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::Tensor {
                    name: name.clone(),
                    problem: format!("value {i} is {}", raw.data[i]),
                });
            }
        }
        if let Some(extra) = tensors
            .keys()
            .filter(|k| !shapes.iter().any(|(n, _)| n == *k))
            .min()
        {
            return Err(ModelError::Tensor {
                name: extra.clone(),
                problem: "not part of this model".into(),
            });
        }
        let mut tensors = tensors;
        let params = shapes
            .into_iter()
            .map(|(name, _)| {
                let raw = tensors.remove(&name).expect("checked above");
                Param {
                    name,
                    shape: raw.shape,
                    data: raw.data,
                }
            })
            .collect();
        Ok(Model::of_params(config, device, Params::new(params)))
    }

    /// The notebook's `SimpleRNNMusicGeneratorModel` from its state_dict: LSTM(3, H) with
    /// scalar pitch input, sigmoid pitch head, linear step and duration heads.
    pub fn from_notebook_state_dict(
        entries: Vec<(String, RawTensor)>,
    ) -> Result<Model, ModelError> {
        // The notebook names its heads `pitch_linear`, `step_linear`, `duration_linear`.
        let tensors: HashMap<String, RawTensor> = entries
            .into_iter()
            .map(|(name, t)| {
                let name = match name.split_once('.') {
                    Some(("pitch_linear", v)) => format!("fc_pitch.{v}"),
                    Some(("step_linear", v)) => format!("fc_step.{v}"),
                    Some(("duration_linear", v)) => format!("fc_duration.{v}"),
                    _ => name,
                };
                (name, t)
            })
            .collect();
        let hh = tensors
            .get("lstm.weight_hh_l0")
            .ok_or_else(|| ModelError::Tensor {
                name: "lstm.weight_hh_l0".into(),
                problem: "missing".into(),
            })?;
        let hidden = *hh.shape.get(1).ok_or_else(|| ModelError::Tensor {
            name: "lstm.weight_hh_l0".into(),
            problem: format!("shape {:?}, expected [4H, H]", hh.shape),
        })? as i64;
        let layers = (0..8)
            .take_while(|l| tensors.contains_key(&format!("lstm.weight_ih_l{l}")))
            .count() as i64;
        let config = ModelConfig {
            hidden,
            layers: layers.max(1),
            input: Input::Scalar,
            head: Head::Sigmoid,
            embed: 32,
            pointer: false,
            position: false,
            degree: false,
            rhythm: Rhythm::Regression,
        };
        let mut m = Model::with_weights(config, Device::Cpu, tensors)?;
        m.origin = "the notebook's PyTorch model".into();
        Ok(m)
    }
}

/// safetensors writes its metadata map in hash order, which changes run to run; rewriting
/// the JSON header with sorted keys (same length, so the data offsets hold) makes the same
/// model the same bytes.
fn sort_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    else {
        return bytes;
    };
    let Some(header) = bytes.get(8..8 + len) else {
        return bytes;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return bytes;
    };
    let mut sorted = serde_json::to_vec(&value).expect("JSON values serialise");
    if sorted.len() <= len {
        sorted.resize(len, b' ');
        bytes[8..8 + len].copy_from_slice(&sorted);
    }
    bytes
}
