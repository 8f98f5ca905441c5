//! Compile-time behaviour of `#[task]` and `fan_out!`: every misuse is a compile error with
//! a clear message at the user's tokens (`ui/fail/*.rs` against their `.stderr`), and every
//! supported form compiles and runs (`ui/pass/*.rs`).
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p runner-tests --test
//! ui`, and read every `.stderr` diff before committing it.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
