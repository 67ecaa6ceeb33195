//! The router RIB (multipath, graceful restart), the FIB programming delay, and MetalLB's BGP
//! advertisement rule.

use bgp::rib::{advertises, Fib, PeerId, Rib, TrafficPolicy};
use bgp::wire::Ipv4Prefix;
use sim_core::{SimDuration, SimTime};
use std::net::Ipv4Addr;

fn vip(last: u8) -> Ipv4Prefix {
    Ipv4Prefix::host(Ipv4Addr::new(203, 0, 113, last))
}

/// Node `n`'s address: 10.0.0.(100 + n), so address order is node order unless a test says
/// otherwise.
fn node(n: PeerId) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 100 + n as u8)
}

fn at_ms(n: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(n)
}

fn secs(n: u64) -> SimDuration {
    SimDuration::from_secs(n)
}

#[test]
fn multipath_set_grows_and_shrinks() {
    let mut rib = Rib::default();
    let p = vip(10);
    let t = at_ms(0);
    assert_eq!(rib.update(t, 1, &[(p, node(1))], &[]), vec![p]);
    assert_eq!(rib.update(t, 2, &[(p, node(2))], &[]), vec![p]);
    assert_eq!(rib.update(t, 3, &[(p, node(3))], &[]), vec![p]);
    assert_eq!(rib.next_hops(p), vec![1, 2, 3]);

    // The same announcement again changes nothing.
    assert_eq!(rib.update(at_ms(5), 2, &[(p, node(2))], &[]), vec![]);
    assert_eq!(rib.route(p, 2).unwrap().learned_at, at_ms(5));

    // Another prefix does not disturb this one.
    assert_eq!(rib.update(t, 1, &[(vip(11), node(1))], &[]), vec![vip(11)]);
    assert_eq!(rib.next_hops(p), vec![1, 2, 3]);

    assert_eq!(rib.update(t, 2, &[], &[p]), vec![p]);
    assert_eq!(rib.next_hops(p), vec![1, 3]);
    // Withdrawing what is not there changes nothing.
    assert_eq!(rib.update(t, 2, &[], &[p]), vec![]);
    assert_eq!(rib.update(t, 1, &[], &[p]), vec![p]);
    assert_eq!(rib.update(t, 3, &[], &[p]), vec![p]);
    assert_eq!(rib.next_hops(p), Vec::<PeerId>::new());
    assert_eq!(rib.prefixes().collect::<Vec<_>>(), vec![vip(11)]);
}

#[test]
fn multipath_order_follows_next_hop_address_then_peer() {
    // FRR `bgp_path_info_mpath_cmp`: by next hop, then by peer.
    let mut rib = Rib::default();
    let p = vip(1);
    let t = at_ms(0);
    rib.update(t, 7, &[(p, Ipv4Addr::new(10, 0, 0, 2))], &[]);
    rib.update(t, 3, &[(p, Ipv4Addr::new(10, 0, 0, 9))], &[]);
    rib.update(t, 5, &[(p, Ipv4Addr::new(10, 0, 0, 2))], &[]);
    assert_eq!(rib.next_hops(p), vec![5, 7, 3]);
    // A next-hop change alone reorders the set: a best-set change.
    assert_eq!(
        rib.update(t, 3, &[(p, Ipv4Addr::new(10, 0, 0, 1))], &[]),
        vec![p]
    );
    assert_eq!(rib.next_hops(p), vec![3, 5, 7]);
}

#[test]
fn maximum_paths_caps_the_set() {
    let mut rib = Rib::new(2);
    let p = vip(1);
    let t = at_ms(0);
    assert_eq!(rib.update(t, 2, &[(p, node(2))], &[]), vec![p]);
    assert_eq!(rib.update(t, 3, &[(p, node(3))], &[]), vec![p]);
    // A third path beyond the cap: the used set is unchanged.
    assert_eq!(rib.update(t, 4, &[(p, node(4))], &[]), vec![]);
    assert_eq!(rib.next_hops(p), vec![2, 3]);
    // One that sorts first displaces the last.
    assert_eq!(rib.update(t, 1, &[(p, node(1))], &[]), vec![p]);
    assert_eq!(rib.next_hops(p), vec![1, 2]);
    // Losing a used path brings the spare one in.
    assert_eq!(rib.update(t, 2, &[], &[p]), vec![p]);
    assert_eq!(rib.next_hops(p), vec![1, 3]);
}

#[test]
fn prefix_both_withdrawn_and_announced_counts_as_announced() {
    // RFC 4271 §4.3.
    let mut rib = Rib::default();
    let p = vip(1);
    rib.update(at_ms(0), 1, &[(p, node(1))], &[]);
    assert_eq!(rib.update(at_ms(1), 1, &[(p, node(1))], &[p]), vec![]);
    assert_eq!(rib.next_hops(p), vec![1]);
    assert_eq!(rib.update(at_ms(2), 2, &[(p, node(2))], &[p]), vec![p]);
    assert_eq!(rib.next_hops(p), vec![1, 2]);
}

#[test]
fn peer_down_without_graceful_restart_drops_its_routes_at_once() {
    let mut rib = Rib::default();
    let t = at_ms(0);
    rib.update(t, 1, &[(vip(1), node(1)), (vip(2), node(1))], &[]);
    rib.update(t, 2, &[(vip(1), node(2))], &[]);
    assert_eq!(rib.peer_down(at_ms(10), 1, None), vec![vip(1), vip(2)]);
    assert_eq!(rib.next_hops(vip(1)), vec![2]);
    assert_eq!(rib.next_hops(vip(2)), Vec::<PeerId>::new());
    assert_eq!(rib.next_timeout(), None);
}

#[test]
fn graceful_restart_keeps_stale_routes_until_the_restart_time_expires() {
    let mut rib = Rib::default();
    let t = at_ms(0);
    rib.update(t, 1, &[(vip(1), node(1)), (vip(2), node(1))], &[]);
    rib.update(t, 2, &[(vip(1), node(2))], &[]);

    let down = at_ms(1_000);
    assert_eq!(rib.peer_down(down, 1, Some(secs(120))), vec![]);
    // Still forwarding over the restarting peer (RFC 4724 §4.2), marked stale.
    assert_eq!(rib.next_hops(vip(1)), vec![1, 2]);
    assert!(rib.route(vip(1), 1).unwrap().stale);
    assert!(!rib.route(vip(1), 2).unwrap().stale);
    assert_eq!(rib.stale_until(1), Some(down + secs(120)));
    assert_eq!(rib.next_timeout(), Some(down + secs(120)));

    // A wake-up with nothing due does nothing.
    assert_eq!(rib.on_timeout(down + secs(119)), vec![]);
    assert_eq!(rib.next_hops(vip(1)), vec![1, 2]);

    assert_eq!(rib.on_timeout(down + secs(120)), vec![vip(1), vip(2)]);
    assert_eq!(rib.next_hops(vip(1)), vec![2]);
    assert_eq!(rib.next_hops(vip(2)), Vec::<PeerId>::new());
    assert_eq!(rib.next_timeout(), None);
}

#[test]
fn end_of_rib_replaces_stale_routes_and_drops_the_rest() {
    let mut rib = Rib::default();
    let t = at_ms(0);
    rib.update(t, 1, &[(vip(1), node(1)), (vip(2), node(1))], &[]);
    rib.peer_down(at_ms(100), 1, Some(secs(120)));

    // The peer is back and re-sends only vip(1): fresh again, no best-set change.
    assert_eq!(
        rib.update(at_ms(5_000), 1, &[(vip(1), node(1))], &[]),
        vec![]
    );
    assert!(!rib.route(vip(1), 1).unwrap().stale);
    assert!(rib.route(vip(2), 1).unwrap().stale);

    // End-of-RIB: what is still stale goes; the timer is cancelled.
    assert_eq!(rib.end_of_rib(at_ms(5_001), 1), vec![vip(2)]);
    assert_eq!(rib.next_hops(vip(1)), vec![1]);
    assert_eq!(rib.route(vip(2), 1), None);
    assert_eq!(rib.next_timeout(), None);
    assert_eq!(rib.on_timeout(at_ms(200_000)), vec![]);
    assert_eq!(rib.next_hops(vip(1)), vec![1]);
}

#[test]
fn a_second_restart_restarts_the_clock_and_one_peer_expiry_spares_the_others() {
    let mut rib = Rib::default();
    rib.update(at_ms(0), 1, &[(vip(1), node(1))], &[]);
    rib.update(at_ms(0), 2, &[(vip(1), node(2))], &[]);
    rib.peer_down(at_ms(0), 1, Some(secs(10)));
    rib.peer_down(at_ms(5_000), 2, Some(secs(10)));
    rib.peer_down(at_ms(8_000), 1, Some(secs(10)));
    assert_eq!(rib.next_timeout(), Some(at_ms(15_000)));
    assert_eq!(rib.on_timeout(at_ms(15_000)), vec![vip(1)]);
    assert_eq!(rib.next_hops(vip(1)), vec![1]);
    assert_eq!(rib.next_timeout(), Some(at_ms(18_000)));
    assert_eq!(rib.on_timeout(at_ms(18_000)), vec![vip(1)]);
    assert_eq!(rib.next_hops(vip(1)), Vec::<PeerId>::new());
}

#[test]
fn fib_programs_after_the_delay() {
    let mut fib = Fib::new(Fib::DEFAULT_PROGRAMMING_DELAY);
    // FRR's bgpd route queue (50 ms) and zebra's RIB queue (10 ms).
    assert_eq!(fib.delay(), SimDuration::from_millis(60));
    fib.best_changed(at_ms(0), vip(1), vec![1, 2]);
    fib.best_changed(at_ms(3), vip(2), vec![3]);
    assert_eq!(fib.next_timeout(), Some(at_ms(60)));
    assert_eq!(fib.on_timeout(at_ms(59)), vec![]);
    assert_eq!(fib.next_hops(vip(1)), &[] as &[PeerId]);
    assert_eq!(fib.on_timeout(at_ms(60)), vec![(vip(1), vec![1, 2])]);
    assert_eq!(fib.next_hops(vip(1)), &[1, 2]);
    assert_eq!(fib.next_timeout(), Some(at_ms(63)));
    assert_eq!(fib.on_timeout(at_ms(63)), vec![(vip(2), vec![3])]);
    assert_eq!(fib.next_timeout(), None);
}

#[test]
fn fib_coalesces_changes_within_the_delay_last_one_wins() {
    let mut fib = Fib::new(SimDuration::from_millis(10));
    fib.best_changed(at_ms(0), vip(1), vec![1, 2, 3]);
    fib.best_changed(at_ms(4), vip(1), vec![1, 3]);
    fib.best_changed(at_ms(9), vip(1), vec![3]);
    // Due when the first change was; carries the last.
    assert_eq!(fib.next_timeout(), Some(at_ms(10)));
    assert_eq!(fib.on_timeout(at_ms(10)), vec![(vip(1), vec![3])]);

    // A flap that ends where the FIB already is programs nothing.
    fib.best_changed(at_ms(20), vip(1), vec![1, 3]);
    fib.best_changed(at_ms(25), vip(1), vec![3]);
    assert_eq!(fib.on_timeout(at_ms(30)), vec![]);
    assert_eq!(fib.next_hops(vip(1)), &[3]);

    // Removal programs an empty set.
    fib.best_changed(at_ms(40), vip(1), vec![]);
    assert_eq!(fib.on_timeout(at_ms(50)), vec![(vip(1), vec![])]);
    assert_eq!(fib.next_hops(vip(1)), &[] as &[PeerId]);
}

#[test]
fn rib_to_fib_after_a_node_failure() {
    let mut rib = Rib::default();
    let mut fib = Fib::new(Fib::DEFAULT_PROGRAMMING_DELAY);
    let p = vip(10);
    for n in 1..=3 {
        let changed = rib.update(at_ms(0), n, &[(p, node(n))], &[]);
        fib.rib_changed(at_ms(0), &rib, &changed);
    }
    assert_eq!(fib.on_timeout(at_ms(60)), vec![(p, vec![1, 2, 3])]);
    // BFD brings node 2's session down at 900 ms; no graceful restart. bgpd clears the peer's
    // routes through its clear-node queue first (10 ms).
    let changed = rib.peer_down(at_ms(900), 2, None);
    fib.rib_changed_after(at_ms(900), Fib::DEFAULT_PEER_DOWN_DELAY, &rib, &changed);
    assert_eq!(fib.next_timeout(), Some(at_ms(970)));
    assert_eq!(fib.on_timeout(at_ms(970)), vec![(p, vec![1, 3])]);
}

#[test]
fn advertisement_rule_table() {
    use TrafficPolicy::{Cluster, Local};
    // (policy, local endpoint, any endpoint, node eligible) -> advertises
    let table = [
        (Cluster, false, false, true, false), // "noEndpoints"
        (Cluster, false, true, true, true),   // endpoints elsewhere suffice
        (Cluster, true, true, true, true),
        (Cluster, false, true, false, false), // not eligible (e.g. NetworkUnavailable)
        (Cluster, true, true, false, false),
        (Local, false, false, true, false),
        (Local, false, true, true, false), // "noLocalEndpoints"
        (Local, true, true, true, true),
        (Local, true, true, false, false),
        (Local, false, true, false, false),
        // Inconsistent input (local but not any): the source's second check refuses.
        (Local, true, false, true, false),
        (Cluster, true, false, true, false),
    ];
    for (policy, local, any, eligible, want) in table {
        assert_eq!(
            advertises(policy, local, any, eligible),
            want,
            "{policy:?} local={local} any={any} eligible={eligible}"
        );
    }
}
