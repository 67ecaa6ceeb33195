//! AFL++ entry for the `ndp_packet` target; the body is `lbsim_fuzz::ndp_packet`.
fn main() {
    afl::fuzz!(|data: &[u8]| lbsim_fuzz::ndp_packet(data));
}
