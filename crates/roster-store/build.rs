//! `sqlx::migrate!` embeds the migrations at compile time; a new migration file must rebuild
//! the crate (cargo tracks no directory by itself).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
