//! Links libtorch so that `target/*/tms` runs without LD_LIBRARY_PATH and finds CUDA where
//! present: an rpath to torch-sys's libtorch directory, and `--no-as-needed` so the linker
//! keeps libtorch (and through it libtorch_cuda) even though no Rust symbol names it directly.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let mut version = String::from("unknown");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-search=native={lib}");
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
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
}
