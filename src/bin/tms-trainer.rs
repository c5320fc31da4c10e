//! The trainer process: everything of tms that needs libtorch, started by `tms` on demand
//! and spoken to over stdin and stdout (`tms::model::serve`). Not meant to be run by hand.

fn main() {
    tms::model::serve::run();
}
