//! Issue 12 part A: the trough, L2 speaker restarts, and the mitigations table.

use lbsim::mitigations;

/// One service on 4 nodes, 100 keep-alive users (20 connections each) at 20 req/s, so every
/// connection carries a request about every second; node-3's route is withdrawn at 5 s.
/// `profile` is spliced into the client group.
fn trough_scenario(profile: &str) -> lbsim::scenario::Scenario {
    crate::scenario(&format!(
        r#"(name: "trough", duration: "9s",
            nodes: (count: 4, cores: 4, packet_cost: "1us"),
            service: (pods: (replicas: 4, service_time: Exponential(mean: "100us"))),
            ecmp: (fields: FiveTuple, hash: Linux, seed: 24301, selection: HashThreshold),
            clients: [(name: "users", count: 100, load: OpenLoop(rate: 20), connections: KeepAlive(pool: 20), timeout: "1s"{profile})],
            events: [(at: "5s", withdraw: "node-3")])"#
    ))
}

#[test]
fn resets_at_the_trough_scale_with_its_live_connections() {
    let peak = &crate::run(&trough_scenario(""))[0].services[0];
    let trough = &crate::run(&trough_scenario(
        r#", profile: [(at: "2s", share: 0.25), (at: "8s", share: 1.0)]"#,
    ))[0]
        .services[0];
    // The profile takes three quarters of the users offline, and their connections with them.
    let live = trough.live_at_changes as f64 / peak.live_at_changes as f64;
    assert!((0.2..0.3).contains(&live), "live {trough:?} vs {peak:?}");
    assert!(peak.broken > 200, "{peak:?}");
    let resets = trough.broken as f64 / peak.broken as f64;
    assert!(
        (resets / live - 1.0).abs() < 0.1,
        "resets at the trough / at the peak {resets:.3}, live connections {live:.3}"
    );
}

#[test]
fn profile_steps_must_be_in_order_and_shares_in_range() {
    for (profile, field) in [
        (
            r#"[(at: "2s", share: 0.5), (at: "1s", share: 1.0)]"#,
            "clients[0].profile[1].at",
        ),
        (r#"[(at: "2s", share: 1.5)]"#, "clients[0].profile[0].share"),
    ] {
        let text = crate::small("events: [], variants: [],").replace(
            r#"timeout: "1s")"#,
            &format!(r#"timeout: "1s", profile: {profile})"#),
        );
        let err = lbsim::scenario::Scenario::parse(std::path::Path::new("t.ron"), &text)
            .expect_err(profile)
            .to_string();
        assert!(err.contains(field), "{err}");
    }
}

/// L2 mode: `restart_speaker` on the service's leader (the SIGTERM of its speaker pod: memberlist
/// Leave, a new speaker after `restart_after`).
#[test]
fn an_l2_speaker_restart_moves_its_ips_away_and_back() {
    let text = |events: &str| {
        format!(
            r#"(name: "l2r", duration: "20s",
            nodes: (count: 3, cores: 4, packet_cost: "1us"),
            service: (pods: (replicas: 3, service_time: Exponential(mean: "100us"))),
            l2: (clients: BehindGateway),
            clients: [(name: "c", count: 4, load: OpenLoop(rate: 50), connections: KeepAlive(pool: 4), timeout: "1s", start: "1s")],
            events: [{events}])"#
        )
    };
    let quiet = &crate::run(&crate::scenario(&text("")))[0];
    let leader = quiet.services[0].announcers[0];
    let name = &quiet.node_names[usize::from(leader)];
    let r = &crate::run(&crate::scenario(&text(&format!(
        r#"(at: "8s", restart_speaker: "{name}", restart_after: "3s")"#
    ))))[0];
    // Leave hands the IP to another node; the restarted speaker takes it back.
    assert!(r.changes.len() >= 2, "{:?}", r.changes);
    assert_eq!(r.services[0].announcers, [leader], "back on its leader");
    assert!(r.connections_broken() > 0, "{:?}", r.counts);
}

/// A BGP-mode cluster with two services (accept, retry) and a table over two triggers.
fn table_scenario(cells: &str) -> String {
    format!(
        r#"(name: "table", duration: "16s",
        nodes: (count: 6, cores: 4, packet_cost: "2us"),
        service: (pods: (replicas: 4, service_time: Exponential(mean: "200us"), placement: OnNodes(["node-1", "node-2", "node-3", "node-4"]))),
        pools: [(name: "p", addresses: ["192.0.2.10-192.0.2.20"])],
        services: [(name: "accept", pool: "p"), (name: "retry", pool: "p")],
        ecmp: (fields: FiveTuple, hash: Linux, seed: 24301, selection: HashThreshold),
        bgp: (speaker: FrrDatacenter, bfd: (transmit_interval: "300ms", receive_interval: "300ms", detect_multiplier: 3)),
        clients: [
            (name: "a", count: 10, service: "accept", load: OpenLoop(rate: 100), connections: KeepAlive(pool: 10), timeout: "2s", start: "2s"),
            (name: "r", count: 10, service: "retry", load: OpenLoop(rate: 100), connections: KeepAlive(pool: 10), timeout: "2s", start: "2s", retry: ()),
        ],
        events: [(at: "8s", crash: "node-5")],
        variants: [(name: "loss"), (name: "restart", events: [(at: "8s", restart_speaker: "node-5", restart_after: "3s")])],
        mitigations: (change_at: "8s", triggers: ["node loss", "speaker restart"], mitigations: ["accept", "retry"], cells: [{cells}]),
    )"#
    )
}

const CELLS: &str = r#"
    (trigger: "node loss", mitigation: "accept", mode: Bgp, variant: "loss", service: "accept"),
    (trigger: "node loss", mitigation: "retry", mode: Bgp, variant: "loss", service: "retry"),
    (trigger: "speaker restart", mitigation: "accept", mode: Bgp, variant: "restart", service: "accept"),
    (trigger: "speaker restart", mitigation: "retry", mode: Bgp, variant: "restart", service: "retry"),
    (trigger: "node loss", mitigation: "accept", mode: L2, not_applicable: "no L2 variant here"),
    (trigger: "speaker restart", mitigation: "accept", mode: L2, not_applicable: "no L2 variant here"),
    (trigger: "node loss", mitigation: "retry", mode: L2, not_applicable: "no L2 variant here"),
    (trigger: "speaker restart", mitigation: "retry", mode: L2, not_applicable: "no L2 variant here"),
"#;

#[test]
fn the_table_has_every_cell_and_reads_each_from_its_service() {
    let s = crate::scenario(&table_scenario(CELLS));
    let results = crate::run(&s);
    let rows = mitigations::rows(&s, &results);
    assert_eq!(
        rows.len(),
        2 * 2 * 2,
        "(trigger, mitigation, mode) each once"
    );
    let get = |t: &str, m: &str, mode: &str| {
        rows.iter()
            .find(|r| r.trigger == t && r.mitigation == m && r.mode == mode)
            .unwrap()
    };
    for t in ["node loss", "speaker restart"] {
        let accept = get(t, "accept", "Bgp");
        let retry = get(t, "retry", "Bgp");
        // Both services lose connections at the change; only retry's users are spared, and
        // each retry is an extra request.
        assert!(accept.connections_broken.unwrap() > 0, "{accept:?}");
        assert_eq!(accept.user_failed, accept.connections_broken, "{accept:?}");
        assert!(retry.connections_broken.unwrap() > 0, "{retry:?}");
        assert_eq!(retry.user_failed, Some(0), "{retry:?}");
        let broken = retry.connections_broken.map(|b| b as f64);
        assert_eq!(retry.costs[0], broken, "one retry per broken connection");
        assert_eq!(
            accept.live_at_change,
            Some(100),
            "10 users x 10 connections"
        );
        assert!(accept.p99_ms.is_some());
        let na = get(t, "accept", "L2");
        assert_eq!(na.note, "does not apply: no L2 variant here");
        assert_eq!(na.live_at_change, None);
    }
    let text = mitigations::table(&s, &results);
    // A blank line, the title, the header, the rows.
    assert_eq!(text.lines().count(), 3 + rows.len(), "{text}");
    let csv = mitigations::csv_rows(&s, &results);
    assert_eq!(csv.len(), 1 + rows.len());
    assert_eq!(csv[0][0], "variant");
}

#[test]
fn a_table_missing_a_cell_or_naming_a_wrong_variant_is_refused() {
    let missing = CELLS.replace(
        r#"(trigger: "speaker restart", mitigation: "retry", mode: L2, not_applicable: "no L2 variant here"),"#,
        "",
    );
    let err =
        lbsim::scenario::Scenario::parse(std::path::Path::new("t.ron"), &table_scenario(&missing))
            .expect_err("a missing cell")
            .to_string();
    assert!(
        err.contains(r#"no cell for ("speaker restart", "retry", L2)"#),
        "{err}"
    );
    let wrong = CELLS.replace(
        r#"variant: "restart", service: "retry""#,
        r#"variant: "nope", service: "retry""#,
    );
    let err =
        lbsim::scenario::Scenario::parse(std::path::Path::new("t.ron"), &table_scenario(&wrong))
            .expect_err("a wrong variant")
            .to_string();
    assert!(err.contains("mitigations.cells[3].variant"), "{err}");
    assert!(err.contains("valid: loss, restart"), "{err}");
}

#[test]
fn sim_run_prints_the_table_and_writes_mitigations_csv() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.ron");
    std::fs::write(&file, table_scenario(CELLS)).unwrap();
    let out = dir.path().join("out");
    let (ok, stdout, stderr) = crate::sim_in(
        dir.path(),
        &["run", "t.ron", "--out", out.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\nmitigations: one row per"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("mitigations.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8, "{csv}");
    let manifest = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(manifest.contains("mitigations.csv"));
}
