//! Every compile-time diagnostic of `#[job]`, with its span and message (tests/ui/*.stderr),
//! and every accepted form (tests/ui-pass).

#[test]
fn diagnostics_point_at_the_offending_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui-pass/*.rs");
}
