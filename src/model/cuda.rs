//! CUDA on demand. libtorch's CUDA half (libtorch_cuda and 2.6 GB of NVIDIA libraries)
//! registers its kernels when it is loaded, which costs every start of tms about 0.2 s even
//! on machines without a GPU. tms links only libtorch's CPU half and opens libtorch_cuda
//! itself, once, when the machine has an NVIDIA driver; after that libtorch sees CUDA exactly
//! as if it had been linked (`tch::Cuda::is_available()`, `Device::Cuda`).

use std::path::Path;
use std::sync::OnceLock;

static LOADED: OnceLock<Result<(), String>> = OnceLock::new();

/// Whether an NVIDIA kernel driver is present (WSL2's GPU device counts): without one CUDA
/// cannot work, so there is no point paying for its libraries. `TMS_CUDA=0` never loads CUDA,
/// `TMS_CUDA=1` always tries.
fn driver_present() -> bool {
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
pub fn load() -> Result<bool, String> {
    if !driver_present() {
        return Ok(false);
    }
    LOADED.get_or_init(open).clone().map(|()| true)
}

#[allow(unsafe_code)]
fn open() -> Result<(), String> {
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
        .map_err(|e| format!("cannot load CUDA support from {}: {e}", path.display()))?;
    std::mem::forget(lib);
    Ok(())
}
