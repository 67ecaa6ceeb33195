//! AFL++ entry for the `suite` target; the body is `lbsim_fuzz::suite`.
fn main() {
    afl::fuzz!(|data: &[u8]| lbsim_fuzz::suite(data));
}
