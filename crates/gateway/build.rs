//! Rebuilds the gateway when the dashboard's build output changes, so
//! `cargo build --release` embeds the current `dashboard/dist`.

fn main() {
    println!("cargo:rerun-if-changed=../../dashboard/dist");
    println!("cargo:rerun-if-changed=../../dashboard/dist/index.html");
}
