//! AFL++ entry for the `bgp_stream` target; the body is `lbsim_fuzz::bgp_stream`.
fn main() {
    afl::fuzz!(|data: &[u8]| lbsim_fuzz::bgp_stream(data));
}
