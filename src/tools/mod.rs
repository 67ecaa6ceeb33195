//! The output formats of the tools people run against real clusters (fortio, vegeta, iperf3,
//! wrk, ping), so scripts written for the real tools read lbsim's results unchanged.
