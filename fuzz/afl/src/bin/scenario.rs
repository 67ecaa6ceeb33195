//! AFL++ entry for the `scenario` target; the body is `lbsim_fuzz::scenario`.
fn main() {
    afl::fuzz!(|data: &[u8]| lbsim_fuzz::scenario(data));
}
