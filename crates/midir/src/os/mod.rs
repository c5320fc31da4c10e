#[cfg(unix)]
pub mod unix;
