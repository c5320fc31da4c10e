//! Links libtorch into the trainer (`--features torch`) so that `target/*/tms-trainer` runs
//! without LD_LIBRARY_PATH: an rpath to torch-sys's libtorch directory, whose path is also
//! compiled in so that the trainer can open libtorch_cuda itself when the machine has an
//! NVIDIA driver (`src/model/cuda.rs`). `tms` links none of it, and only names its version.
//!
//! DESIGN.md linked with `--no-as-needed -ltorch` so that libtorch_cuda always loads. That
//! costs every start about 0.2 s of CUDA kernel registration and loads 2.6 GB of CUDA
//! libraries even on machines without a GPU; opening it on demand keeps CUDA where there is
//! a GPU and makes `tms -c 'load …'` start in half a second.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let mut version = String::from("unknown");
    let mut libdir = String::new();
    // The trainer links libtorch (torch-sys says where); `tms` only names its version, from
    // the same LIBTORCH the Makefile builds the trainer with.
    let linked = std::env::var("DEP_TCH_LIBTORCH_LIB").ok();
    let named = std::env::var("LIBTORCH").ok().map(|t| format!("{t}/lib"));
    if let Some(lib) = linked.or(named) {
        if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
            println!("cargo:rustc-link-search=native={lib}");
        }
        libdir = lib.clone();
        // The PyPI wheel records its version beside lib/; a plain libtorch zip in build-version.
        let root = std::path::Path::new(&lib).join("..");
        if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
            if let Some(line) = text.lines().find(|l| l.starts_with("__version__")) {
                version = line.split('\'').nth(1).unwrap_or("unknown").to_string();
            }
        } else if let Ok(text) = std::fs::read_to_string(root.join("build-version")) {
            version = text.trim().to_string();
        }
    }
    println!("cargo:rustc-env=TMS_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=TMS_LIBTORCH_LIB={libdir}");
}
