//! lbsim's BGP wire codec against a real BGP daemon: BIRD 2, from Debian's `bird2` package.
//!
//! ```text
//!  netns lbsim-bgp-<pid>                      netns lbsim-bgp-<pid>-c
//!  bird -f (passive, AS 64512)                test thread after setns(2): tokio + bgp::wire
//!  lbsim0 10.255.0.1/30 ◀──────── veth ──────▶ lbsim1 10.255.0.2/30 (AS 64513)
//!         ▲ :179  ◀── TCP, lbsim connects ───
//!  kernel table: 192.0.2.10/32 via 10.255.0.2 proto bird
//! ```
//!
//! The test builds two network namespaces joined by a veth pair and starts BIRD in one of them
//! as its child, with a configuration it writes: a passive eBGP session towards 10.255.0.2 and
//! every learned route exported to that namespace's kernel table. lbsim's side runs on a thread
//! of its own that enters the other namespace (setns(2), which moves only the calling thread)
//! and then drives a current-thread tokio runtime: it connects to BIRD, and from then on every
//! byte on the wire is lbsim's encoding or is decoded by lbsim's codec.
//!
//! 1. OPEN both ways (4-octet AS and IPv4 unicast capabilities, hold time 9 s); BIRD's OPEN
//!    decodes to what its configuration says; KEEPALIVEs both ways; BIRD says Established;
//!    then periodic KEEPALIVEs both ways (every 3 s).
//! 2. UPDATE announcing 192.0.2.10/32 (ORIGIN IGP, AS_PATH 64513, NEXT_HOP 10.255.0.2): BIRD
//!    shows the route with those attributes and installs it in the kernel.
//! 3. UPDATE withdrawing it: gone from BIRD and from the kernel.
//! 4. NOTIFICATION Cease / Administrative Shutdown with a shutdown communication (RFC 9003):
//!    BIRD closes the connection and reports that error with our text.
//!
//! Throughout, every message BIRD sends must decode without error, must not be a NOTIFICATION
//! (which would mean BIRD refused something of ours), and must re-encode to the very bytes BIRD
//! sent. Every wait has a timeout and the whole test a 30 s bound; a run takes about three
//! seconds, nearly all of it waiting for the periodic KEEPALIVE. The namespaces and the daemon
//! are removed by drop guards, also when the test fails; then BIRD's log is printed.
//!
//! Needs root, iproute2 (`ip`) and BIRD 2 (`bird`, `birdc`); otherwise it prints
//! `SKIPPED: <test>: <what is missing>; <how to get it>` and passes.

mod interop;

use bgp::wire::{
    Afi, AsPath, AttributeValue, Capability, CodecOptions, Ipv4Prefix, Message, Notification, Open,
    Origin, PathAttribute, Safi, Update,
};
use interop::bird::{Bird, Installation, CLIENT_AS, DAEMON_AS, HOLD_TIME_S};
use interop::lab::{Lab, CLIENT_ADDR, DAEMON_ADDR};
use interop::peer::{hex, Peer};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The prefix lbsim announces, a MetalLB-style service VIP (TEST-NET-1).
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The shutdown communication sent with the final NOTIFICATION.
const SHUTDOWN_TEXT: &str = "lbsim interop test: session closed by lbsim";
/// Longest any single step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole test must finish within this: every wait is cut to what is left of it.
const TEST_BUDGET: Duration = Duration::from_secs(25);

#[test]
fn bird_learns_and_forgets_a_route_announced_by_lbsims_codec() {
    let started = Instant::now();
    let environment = Installation::find().and_then(|bird| Ok((bird, Lab::build()?)));
    let (installation, lab) = match environment {
        Ok(ready) => ready,
        Err(missing) => return missing.skip(),
    };
    // Declared after `lab`, so dropped before it: BIRD dies before its namespace goes.
    let bird = installation
        .start(&lab.daemon)
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = started + TEST_BUDGET;
    let outcome =
        std::thread::scope(|scope| scope.spawn(|| lbsim_side(&lab, &bird, deadline)).join());
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    let elapsed = started.elapsed();
    assert!(elapsed < TEST_BUDGET + STEP_TIMEOUT, "took {elapsed:?}");
}

/// Runs on a thread of its own: enters the client namespace, then runs the session there.
fn lbsim_side(lab: &Lab, bird: &Bird, deadline: Instant) -> Result<(), String> {
    lab.client
        .enter_on_this_thread()
        .map_err(|e| format!("setns into {}: {e}", lab.client.name()))?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?
        .block_on(session(lab, bird, deadline))
}

async fn session(lab: &Lab, bird: &Bird, deadline: Instant) -> Result<(), String> {
    // What a step may wait: STEP_TIMEOUT, or less when the test's budget is running out.
    let step = || STEP_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
    let mut peer =
        Peer::connect(CLIENT_ADDR, DAEMON_ADDR, step(), CodecOptions::TWO_OCTET_AS).await?;

    // 1. OPENs, KEEPALIVEs, Established.
    let ours = Open::new(
        CLIENT_AS,
        HOLD_TIME_S,
        CLIENT_ADDR,
        vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            Capability::FourOctetAs { asn: CLIENT_AS },
        ],
    );
    peer.send(ours.clone()).await?;
    let theirs = peer
        .wait_for("BIRD's OPEN", step(), |p| {
            Ok(p.received().iter().find_map(|r| match &r.message {
                Message::Open(open) => Some(open.clone()),
                _ => None,
            }))
        })
        .await?;
    check_daemon_open(&theirs)?;
    let four_octet_as = [&ours, &theirs].iter().all(|open| {
        open.capabilities()
            .any(|c| matches!(c, Capability::FourOctetAs { .. }))
    });
    if !four_octet_as {
        return Err("4-octet AS not negotiated".into());
    }
    peer.set_options(CodecOptions::FOUR_OCTET_AS);
    // RFC 4271 §4.2 and §10: the smaller hold time, KEEPALIVE every third of it.
    let hold_s = ours.hold_time_s.min(theirs.hold_time_s);
    peer.keep_alive(Duration::from_secs(u64::from(hold_s / 3)));
    peer.wait_for("BIRD's KEEPALIVE", step(), |p| {
        Ok(p.received()
            .iter()
            .any(|r| matches!(r.message, Message::Keepalive(_)))
            .then_some(()))
    })
    .await?;
    peer.wait_for("BIRD to report Established", step(), |_| {
        let protocol = bird.protocol()?;
        Ok((field(&protocol, "BGP state:") == Some("Established")).then_some(()))
    })
    .await?;
    // The timers, not just the handshake: BIRD's next KEEPALIVE comes a third of the hold time
    // later, by when lbsim has sent its own periodic one too.
    let keepalives = |p: &Peer| {
        p.received()
            .iter()
            .filter(|r| matches!(r.message, Message::Keepalive(_)))
            .count()
    };
    peer.wait_for("BIRD's periodic KEEPALIVE", step(), |p| {
        Ok((keepalives(p) >= 2).then_some(()))
    })
    .await?;

    // 2. Announce the VIP.
    let announce = Update {
        withdrawn: Vec::new(),
        attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![CLIENT_AS]))),
            PathAttribute::new(AttributeValue::NextHop(CLIENT_ADDR)),
        ],
        nlri: vec![Ipv4Prefix::host(VIP)],
    };
    peer.send(announce).await?;
    let via = format!("via {CLIENT_ADDR}");
    let kernel_route = peer
        .wait_for("the kernel route to the VIP", step(), |_| {
            let routes = kernel_routes(lab)?;
            Ok(routes.contains(&via).then_some(routes))
        })
        .await?;
    if !kernel_route.contains("proto bird") {
        return Err(format!("kernel route not BIRD's: {kernel_route}"));
    }
    let shown = bird
        .route(&format!("{VIP}/32"))?
        .ok_or("BIRD shows no route to the VIP")?;
    for (key, want) in [
        ("BGP.origin:", "IGP".to_string()),
        ("BGP.as_path:", CLIENT_AS.to_string()),
        ("BGP.next_hop:", CLIENT_ADDR.to_string()),
    ] {
        if field(&shown, key) != Some(want.as_str()) {
            return Err(format!("BIRD's route lacks `{key} {want}`:\n{shown}"));
        }
    }

    // 3. Withdraw it.
    peer.send(Update {
        withdrawn: vec![Ipv4Prefix::host(VIP)],
        ..Update::default()
    })
    .await?;
    peer.wait_for("the kernel route to go", step(), |_| {
        Ok(kernel_routes(lab)?.trim().is_empty().then_some(()))
    })
    .await?;
    if let Some(shown) = bird.route(&format!("{VIP}/32"))? {
        return Err(format!("BIRD still has the withdrawn route:\n{shown}"));
    }

    // 4. Administrative shutdown with a shutdown communication.
    peer.send(Notification::administrative_shutdown(SHUTDOWN_TEXT))
        .await?;
    peer.wait_for("BIRD to close the connection", step(), |p| {
        Ok(p.is_closed().then_some(()))
    })
    .await?;
    let protocol = peer
        .wait_for("BIRD to report the shutdown", step(), |_| {
            let protocol = bird.protocol()?;
            let down = field(&protocol, "BGP state:") != Some("Established");
            let error = field(&protocol, "Last error:").unwrap_or_default();
            Ok((down && error.contains("Administrative shutdown")).then_some(protocol))
        })
        .await?;
    eprintln!(
        "BIRD after our NOTIFICATION: state {:?}, last error {:?}",
        field(&protocol, "BGP state:").unwrap_or_default(),
        field(&protocol, "Last error:").unwrap_or_default()
    );
    if !bird.logs().contains(SHUTDOWN_TEXT) {
        return Err(format!(
            "BIRD did not log our shutdown communication:\n{protocol}\n{}",
            bird.logs()
        ));
    }

    check_everything_received(&peer)
}

/// BIRD's OPEN says what its configuration does.
fn check_daemon_open(open: &Open) -> Result<(), String> {
    let expect = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("BIRD's OPEN: {what}: {open:?}"))
        }
    };
    expect(open.asn() == DAEMON_AS, "AS")?;
    expect(u32::from(open.my_as) == DAEMON_AS, "My Autonomous System")?;
    expect(open.bgp_identifier == DAEMON_ADDR, "BGP Identifier")?;
    expect(open.hold_time_s == HOLD_TIME_S, "Hold Time")?;
    expect(
        open.capabilities()
            .any(|c| *c == Capability::FourOctetAs { asn: DAEMON_AS }),
        "4-octet AS capability",
    )?;
    expect(
        open.capabilities().any(|c| {
            *c == Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            }
        }),
        "IPv4 unicast capability",
    )
}

/// Every message BIRD sent decoded (the peer refuses anything else as it reads), none was a
/// NOTIFICATION, and each re-encodes to the bytes BIRD sent.
fn check_everything_received(peer: &Peer) -> Result<(), String> {
    let options = CodecOptions::FOUR_OCTET_AS;
    let mut kinds = Vec::new();
    for r in peer.received() {
        if let Message::Notification(n) = &r.message {
            return Err(format!("BIRD sent a NOTIFICATION: {n}"));
        }
        let mut again = bytes::BytesMut::new();
        r.message.encode(&mut again, options);
        if again[..] != r.bytes[..] {
            return Err(format!(
                "{:?} re-encodes differently:\n BIRD:  {}\n lbsim: {}",
                r.message,
                hex(&r.bytes),
                hex(&again)
            ));
        }
        kinds.push(format!("{:?}", r.message.message_type()));
    }
    eprintln!(
        "BIRD sent {} messages, all decoded and re-encoded byte for byte: {}",
        kinds.len(),
        kinds.join(" ")
    );
    Ok(())
}

/// `ip -n <daemon ns> route show <VIP>/32`.
fn kernel_routes(lab: &Lab) -> Result<String, String> {
    lab.daemon.ip(&["route", "show", &format!("{VIP}/32")])
}

/// The value after `key` on the first line of `text` that starts with it (birdc's
/// `Key:   value` lines, indented).
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(key))
        .map(str::trim)
}
