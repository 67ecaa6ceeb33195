//! lbsim's MP-BGP codec against the real FRR (Debian's `frr`: zebra + bgpd): IPv6 unicast
//! over a session that also carries IPv4 (RFC 4760; MetalLB's FRR mode with
//! `dualStackAddressFamily: true`).
//!
//! ```text
//!  netns lbsim-bgp-<pid>                          netns lbsim-bgp-<pid>-c
//!  zebra + bgpd (passive, AS 64512)               test thread after setns(2): tokio + bgp::wire
//!  lbsim0 10.255.0.1/30 2001:db8:fe::1/64 ◀─veth─▶ lbsim1 10.255.0.2/30 2001:db8:fe::2/64
//!  kernel: 2001:db8:ff::10 via fe80::<lbsim1> proto bgp
//! ```
//!
//! 1. OPENs with 4-octet AS and the IPv4 and IPv6 unicast capabilities; FRR's OPEN advertises
//!    both; FRR reports the session Established.
//! 2. UPDATE with MP_REACH_NLRI for 2001:db8:ff::10/128, next hop 2001:db8:fe::2 plus the
//!    link-local address of lbsim1: FRR shows the route and zebra installs it in the kernel.
//! 3. The IPv6 End-of-RIB (FRR logs it as such), then UPDATE with MP_UNREACH_NLRI: the route
//!    leaves FRR and the kernel.
//!
//! Every message FRR sends must decode without error and must not be a NOTIFICATION; FRR
//! passes the route back with its own next hop and withdraws it, and those MP_REACH_NLRI /
//! MP_UNREACH_NLRI UPDATEs must re-encode to FRR's very bytes. Every wait has a timeout. Needs root, iproute2 and FRR; otherwise
//! it prints `SKIPPED: <test>: <what is missing>; <how to get it>` and passes.

mod interop;

use bgp::wire::{
    Afi, AsPath, AttributeValue, Capability, CodecOptions, Ipv6Prefix, Message, Open, Origin,
    PathAttribute, Safi, Update,
};
use interop::frr::{Frr, CLIENT_AS, DAEMON_AS};
use interop::lab::{Lab, CLIENT_ADDR, DAEMON_ADDR};
use interop::peer::Peer;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x10);
const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 2);
const DAEMON_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 1);
const HOLD_TIME_S: u16 = 9;
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const TEST_BUDGET: Duration = Duration::from_secs(40);

#[test]
fn frr_installs_and_withdraws_ipv6_routes_sent_over_mp_bgp() {
    let started = Instant::now();
    let environment = Frr::find().and_then(|()| Lab::build());
    let lab = match environment {
        Ok(lab) => lab,
        Err(missing) => return missing.skip(),
    };
    let link_local = ipv6_setup(&lab).unwrap_or_else(|e| panic!("{e}"));
    let frr = Frr::start(&lab.daemon).unwrap_or_else(|e| panic!("{e}"));
    let deadline = started + TEST_BUDGET;
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| lbsim_side(&lab, &frr, link_local, deadline))
            .join()
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// IPv6 addresses on both ends (no duplicate address detection, so they are usable at once);
/// returns the link-local address of lbsim's end.
fn ipv6_setup(lab: &Lab) -> Result<Ipv6Addr, String> {
    lab.daemon.ip(&[
        "addr",
        "add",
        &format!("{DAEMON_V6}/64"),
        "dev",
        "lbsim0",
        "nodad",
    ])?;
    lab.client.ip(&[
        "addr",
        "add",
        &format!("{CLIENT_V6}/64"),
        "dev",
        "lbsim1",
        "nodad",
    ])?;
    let shown = interop::poll("lbsim1's link-local address", STEP_TIMEOUT, || {
        let out = lab
            .client
            .ip(&["-6", "-o", "addr", "show", "dev", "lbsim1", "scope", "link"])?;
        Ok(out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse::<Ipv6Addr>().ok()))
    })?;
    Ok(shown)
}

fn lbsim_side(lab: &Lab, frr: &Frr, link_local: Ipv6Addr, deadline: Instant) -> Result<(), String> {
    lab.client
        .enter_on_this_thread()
        .map_err(|e| format!("setns into {}: {e}", lab.client.name()))?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?
        .block_on(session(lab, frr, link_local, deadline))
}

fn ipv6_unicast() -> Capability {
    Capability::Multiprotocol {
        afi: Afi::Ipv6,
        safi: Safi::Unicast,
    }
}

async fn session(
    lab: &Lab,
    frr: &Frr,
    link_local: Ipv6Addr,
    deadline: Instant,
) -> Result<(), String> {
    let step = || STEP_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
    let mut peer =
        Peer::connect(CLIENT_ADDR, DAEMON_ADDR, step(), CodecOptions::TWO_OCTET_AS).await?;
    let ours = Open::new(
        CLIENT_AS,
        HOLD_TIME_S,
        CLIENT_ADDR,
        vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            ipv6_unicast(),
            Capability::FourOctetAs { asn: CLIENT_AS },
        ],
    );
    peer.send(ours.clone()).await?;
    let theirs = peer
        .wait_for("FRR's OPEN", step(), |p| {
            Ok(p.received().iter().find_map(|r| match &r.message {
                Message::Open(open) => Some(open.clone()),
                _ => None,
            }))
        })
        .await?;
    if theirs.asn() != DAEMON_AS || !theirs.capabilities().any(|c| *c == ipv6_unicast()) {
        return Err(format!(
            "FRR's OPEN lacks AS {DAEMON_AS} or IPv6 unicast: {theirs:?}"
        ));
    }
    peer.set_options(CodecOptions::FOUR_OCTET_AS);
    peer.keep_alive(Duration::from_secs(u64::from(
        HOLD_TIME_S.min(theirs.hold_time_s) / 3,
    )));
    let peer_state =
        || -> Result<String, String> { frr.vtysh(&format!("show bgp neighbors {CLIENT_ADDR}")) };
    peer.wait_for("FRR to report Established", step(), |_| {
        Ok(peer_state()?
            .contains("BGP state = Established")
            .then_some(()))
    })
    .await?;
    let neighbor = peer_state()?;
    if !neighbor.contains("IPv6 Unicast: advertised and received") {
        return Err(format!("FRR did not negotiate IPv6 unicast:\n{neighbor}"));
    }

    // 2. Announce the IPv6 VIP with global and link-local next hops.
    let announce = Update::announce_ipv6(
        vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![CLIENT_AS]))),
        ],
        CLIENT_V6,
        Some(link_local),
        vec![Ipv6Prefix::host(VIP)],
    );
    peer.send(announce).await?;
    let kernel = |lab: &Lab| {
        lab.daemon
            .ip(&["-6", "route", "show", &format!("{VIP}/128")])
    };
    let route = peer
        .wait_for("the kernel's IPv6 route to the VIP", step(), |_| {
            let routes = kernel(lab)?;
            Ok((!routes.trim().is_empty()).then_some(routes))
        })
        .await?;
    if !route.contains("proto bgp") || !route.contains("lbsim0") {
        return Err(format!("kernel route not FRR's: {route}"));
    }
    let shown = frr.vtysh(&format!("show bgp ipv6 unicast {VIP}/128"))?;
    for want in [
        CLIENT_V6.to_string(),
        link_local.to_string(),
        CLIENT_AS.to_string(),
    ] {
        if !shown.contains(&want) {
            return Err(format!("FRR's route lacks {want}:\n{shown}"));
        }
    }
    eprintln!("kernel: {}FRR:\n{shown}", route);

    // FRR passes the route back to us (eBGP); wait for that before withdrawing, or it may
    // never send it.
    let has = |p: &Peer, reach: bool| {
        p.received().iter().any(|r| match &r.message {
            Message::Update(u) if reach => u.mp_reach_ipv6().is_some(),
            Message::Update(u) => u.mp_unreach_ipv6().is_some_and(|m| !m.withdrawn.is_empty()),
            _ => false,
        })
    };
    peer.wait_for("FRR's MP_REACH_NLRI back", step(), |p| {
        Ok(has(p, true).then_some(()))
    })
    .await?;

    // 3. End-of-RIB, then withdraw.
    peer.send(Update::end_of_rib_ipv6()).await?;
    peer.send(Update::withdraw_ipv6(vec![Ipv6Prefix::host(VIP)]))
        .await?;
    peer.wait_for("the kernel route to go", step(), |_| {
        Ok(kernel(lab)?.trim().is_empty().then_some(()))
    })
    .await?;
    peer.wait_for("FRR's MP_UNREACH_NLRI back", step(), |p| {
        Ok(has(p, false).then_some(()))
    })
    .await?;
    let after = frr.vtysh(&format!("show bgp ipv6 unicast {VIP}/128"))?;
    if after.contains(&CLIENT_V6.to_string()) {
        return Err(format!("FRR still has the withdrawn route:\n{after}"));
    }
    // FRR logs our End-of-RIB as one (`rcvd End-of-RIB for IPv6 Unicast`); it sends none
    // itself, Graceful Restart not being negotiated.
    if !frr.log().contains("rcvd End-of-RIB for IPv6 Unicast") {
        return Err(format!(
            "FRR did not take our IPv6 End-of-RIB:\n{}",
            frr.log()
        ));
    }
    let kinds: Vec<String> = peer
        .received()
        .iter()
        .map(|r| {
            if let Message::Notification(n) = &r.message {
                format!("NOTIFICATION {n}")
            } else {
                format!("{:?}", r.message.message_type())
            }
        })
        .collect();
    if kinds.iter().any(|k| k.starts_with("NOTIFICATION")) {
        return Err(format!("FRR sent a NOTIFICATION: {kinds:?}"));
    }
    // FRR passes our route back to us (eBGP, its own next hop) and then withdraws it: its
    // MP_REACH_NLRI and MP_UNREACH_NLRI must decode to that and re-encode to FRR's bytes.
    let updates: Vec<&interop::peer::Received> = peer
        .received()
        .iter()
        .filter(|r| matches!(r.message, Message::Update(_)))
        .collect();
    let reach = updates.iter().find_map(|r| match &r.message {
        Message::Update(u) => u.mp_reach_ipv6().cloned(),
        _ => None,
    });
    let unreach = updates.iter().find_map(|r| match &r.message {
        Message::Update(u) => u.mp_unreach_ipv6().cloned(),
        _ => None,
    });
    match (reach, unreach) {
        (Some(r), Some(u))
            if r.nlri == [Ipv6Prefix::host(VIP)]
                && r.next_hop == DAEMON_V6
                && u.withdrawn == [Ipv6Prefix::host(VIP)] => {}
        other => {
            return Err(format!(
                "FRR's IPv6 UPDATEs are not what was expected: {other:?}"
            ))
        }
    }
    for r in &updates {
        let mut again = bytes::BytesMut::new();
        r.message.encode(&mut again, CodecOptions::FOUR_OCTET_AS);
        if again[..] != r.bytes[..] {
            return Err(format!(
                "{:?} re-encodes differently:\n FRR:   {}\n lbsim: {}",
                r.message,
                interop::peer::hex(&r.bytes),
                interop::peer::hex(&again)
            ));
        }
        eprintln!("FRR UPDATE: {}", interop::peer::hex(&r.bytes));
    }
    eprintln!(
        "FRR sent {} messages, all decoded: {}",
        kinds.len(),
        kinds.join(" ")
    );
    Ok(())
}
