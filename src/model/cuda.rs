//! CUDA on demand. libtorch's CUDA half (libtorch_cuda and 2.6 GB of NVIDIA libraries)
//! registers its kernels when it is loaded, which costs every start of tms about 0.2 s even
//! on machines without a GPU. tms links only libtorch's CPU half and opens libtorch_cuda
//! itself, once, when the machine has an NVIDIA driver; after that libtorch sees CUDA exactly
//! as if it had been linked (`tch::Cuda::is_available()`, `Device::Cuda`).

use std::path::Path;
#[cfg(feature = "torch")]
use std::path::PathBuf;
use std::sync::OnceLock;

#[cfg(feature = "torch")]
static LOADED: OnceLock<Result<(), CudaError>> = OnceLock::new();

/// Why CUDA could not load; tms then runs on the CPU.
#[cfg(feature = "torch")]
#[derive(Debug, thiserror::Error)]
#[error("cannot load CUDA support from {}: {source}", .path.display())]
pub struct CudaError {
    path: PathBuf,
    source: libloading::Error,
}

/// Whether an NVIDIA kernel driver is present (WSL2's GPU device counts): without one CUDA
/// cannot work, so there is no point paying for its libraries. `TMS_CUDA=0` never loads CUDA,
/// `TMS_CUDA=1` always tries.
pub fn driver_present() -> bool {
    match std::env::var("TMS_CUDA").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => ["/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg"]
            .iter()
            .any(|p| Path::new(p).exists()),
    }
}

/// Opens libtorch_cuda when a driver is present (once; later calls return the first result).
/// `Ok(false)` means no driver, so CUDA stays off; an error says why CUDA could not load.
#[cfg(feature = "torch")]
pub fn load() -> Result<bool, &'static CudaError> {
    if !driver_present() {
        return Ok(false);
    }
    LOADED.get_or_init(open).as_ref().map(|()| true)
}

#[cfg(feature = "torch")]
#[allow(unsafe_code)]
fn open() -> Result<(), CudaError> {
    let dir = env!("TMS_LIBTORCH_LIB");
    let path = Path::new(dir).join("libtorch_cuda.so");
    let path = if path.exists() {
        path
    } else {
        // A libtorch found through LD_LIBRARY_PATH at run time.
        Path::new("libtorch_cuda.so").to_path_buf()
    };
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: libtorch_cuda is the CUDA half of the libtorch that this binary is linked
    // against (same directory, same build); its initialisers only register CUDA kernels and
    // hooks with the already loaded libtorch_cpu. It is never unloaded: the handle is leaked.
    let lib = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|source| CudaError { path, source })?;
    std::mem::forget(lib);
    Ok(())
}

/// How many GPUs training can use: none without an NVIDIA driver; else what libtorch
/// sees, asked of the trainer process once (the stage never loads libtorch itself).
pub fn gpus() -> usize {
    if !driver_present() {
        return 0;
    }
    static SEEN: OnceLock<usize> = OnceLock::new();
    *SEEN.get_or_init(|| {
        #[cfg(feature = "torch")]
        {
            if tch::Cuda::is_available() {
                tch::Cuda::device_count().max(0) as usize
            } else {
                0
            }
        }
        #[cfg(not(feature = "torch"))]
        {
            super::remote::gpus().unwrap_or(0)
        }
    })
}

/// Where the user asked tensors to live (`device auto|cpu|cuda|cuda:N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA when available, else the CPU.
    Auto,
    Cpu,
    /// A GPU by index (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl DeviceChoice {
    /// Also takes the spellings people type for a GPU (`gpu`, `gpu:1`) and the CPU (`host`).
    pub fn parse(text: &str) -> Option<DeviceChoice> {
        let t = text.to_ascii_lowercase();
        match t.as_str() {
            "auto" => Some(DeviceChoice::Auto),
            "cpu" | "host" => Some(DeviceChoice::Cpu),
            "cuda" | "gpu" => Some(DeviceChoice::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .or_else(|| t.strip_prefix("gpu:"))
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda),
        }
    }

    /// The device this choice means on this machine.
    pub fn resolve(self) -> super::Device {
        match self {
            DeviceChoice::Auto if gpus() > 0 => super::Device::Cuda(0),
            DeviceChoice::Auto | DeviceChoice::Cpu => super::Device::Cpu,
            DeviceChoice::Cuda(i) => super::Device::Cuda(i),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(0) => f.write_str("cuda"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_spellings() {
        assert_eq!(DeviceChoice::parse("GPU"), Some(DeviceChoice::Cuda(0)));
        assert_eq!(DeviceChoice::parse("cuda:2"), Some(DeviceChoice::Cuda(2)));
        assert_eq!(DeviceChoice::parse("gpu:1").unwrap().to_string(), "cuda:1");
        assert_eq!(DeviceChoice::parse("cuda:x"), None);
        assert_eq!(DeviceChoice::parse("tpu"), None);
    }
}
