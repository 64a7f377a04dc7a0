//! Rebuilds when a migration is added, so the embedded migrations stay
//! current (sqlx's `migrate!` cannot tell cargo itself).

fn main() {
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/postgres");
}
