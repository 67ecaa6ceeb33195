//! AFL++ entry for the `bgp_message` target; the body is `lbsim_fuzz::bgp_message`.
fn main() {
    afl::fuzz!(|data: &[u8]| lbsim_fuzz::bgp_message(data));
}
