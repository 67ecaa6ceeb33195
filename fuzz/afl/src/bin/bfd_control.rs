//! AFL++ entry for the `bfd_control` target; the body is `lbsim_fuzz::bfd_control`.
fn main() {
    afl::fuzz!(|data: &[u8]| lbsim_fuzz::bfd_control(data));
}
