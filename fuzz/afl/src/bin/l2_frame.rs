//! AFL++ entry for the `l2_frame` target; the body is `lbsim_fuzz::l2_frame`.
fn main() {
    afl::fuzz!(|data: &[u8]| lbsim_fuzz::l2_frame(data));
}
