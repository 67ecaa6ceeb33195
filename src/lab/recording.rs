//! Recording: the load tools' own files (fortio, wrk, vegeta and its results stream, ping),
//! fed one finished request at a time.

use super::*;

/// A vegeta results stream being written: to `tmp`, renamed to `path` at the end.
pub(super) struct ResultStream {
    writer: crate::tools::vegeta::VegetaCsvWriter<std::io::BufWriter<std::fs::File>>,
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
}

/// `name.json` -> `name.csv`: the results stream beside a vegeta report.
fn stream_name(report: &str) -> String {
    let stem = report.strip_suffix(".json").unwrap_or(report);
    format!("{stem}.csv")
}

/// `name.ext` -> `name-k.ext`, for the files of several instances of one client group.
pub(super) fn instance_name(name: &str, k: usize) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{k}.{ext}"),
        None => format!("{name}-{k}"),
    }
}

impl Lab {
    /// The client groups' results in their tools' formats.
    pub(super) fn tool_files(&mut self, now: SimTime) -> Vec<(String, Vec<u8>)> {
        use crate::tools::{fortio, ping, vegeta, wrk, LoadMeta, PingLog, DEFAULT_EPOCH_NS};
        let mut files = Vec::new();
        for (g, spec) in self.groups.iter().enumerate() {
            let svc = &self.svcs[self.group_service(g)];
            let (vip, url) = (svc.vip, format!("http://{}:{}/", svc.vip, svc.port));
            let Some(template) = &spec.output else {
                continue;
            };
            let name = template.replace("{variant}", &self.variant);
            let start = SimTime(spec.start.as_nanos());
            let stop = spec.stop.map_or(now, |d| SimTime(d.as_nanos()).min(now));
            if let Some(rec) = self.recorders.get_mut(g).and_then(Option::take) {
                let mut meta = LoadMeta::new(&spec.name, &url, stop - start);
                meta.start = start;
                let (qps, connections, threads) = match spec.load {
                    Load::Fortio { qps, connections } => (Some(qps), connections, connections),
                    Load::Wrk {
                        threads,
                        connections,
                    } => (None, connections, threads),
                    Load::Vegeta { rate, workers } => (Some(rate), workers, workers),
                    _ => (None, 1, 1),
                };
                meta.requested_qps = qps.map(|q| q * f64::from(spec.count));
                meta.connections = connections * spec.count;
                meta.threads = threads * spec.count;
                let report = rec.finish(meta);
                match spec.load {
                    Load::Fortio { .. } => {
                        // fortio times the connect of each connection: one round trip here.
                        let rtt = self.client_rtt();
                        files.push((name.clone(), fortio::to_json(&report, rtt).into_bytes()));
                    }
                    Load::Wrk { .. } => {
                        files.push((name.clone(), wrk::to_text(&report).into_bytes()))
                    }
                    Load::Vegeta { .. } => {
                        files.push((name.clone(), vegeta::report_json(&report).into_bytes()))
                    }
                    _ => {}
                }
            }
            if matches!(spec.load, Load::Ping { .. }) {
                let instances: Vec<&Client> = self
                    .clients
                    .iter()
                    .filter(|c| c.group as usize == g)
                    .collect();
                for (k, client) in instances.iter().enumerate() {
                    let Some(probes) = &client.ping_log else {
                        continue;
                    };
                    let log = PingLog {
                        target: vip.to_string(),
                        epoch_ns: DEFAULT_EPOCH_NS,
                        start,
                        probes: probes.clone(),
                        report_outstanding: false,
                        summary: None,
                        ttl: 64,
                    };
                    let file = if instances.len() == 1 {
                        name.clone()
                    } else {
                        instance_name(&name, k + 1)
                    };
                    files.push((file, ping::to_log(&log).into_bytes()));
                }
            }
        }
        files
    }

    /// The service client group `g` sends to (its first instance's).
    pub(super) fn group_service(&self, g: usize) -> usize {
        self.clients
            .iter()
            .find(|c| c.group as usize == g)
            .map_or(0, |c| c.service as usize)
    }

    /// One round trip client -> router -> node and back, without queueing.
    pub(super) fn client_rtt(&self) -> SimDuration {
        let one_way = self.topo.link(self.clients[0].uplink).delay + self.node_link_delay;
        one_way + one_way
    }

    /// Open the vegeta results streams of the client groups that write one.
    pub(super) fn open_streams(&mut self, out: &crate::outdir::OutDir) -> Result<(), LabError> {
        let err = |variant: &str, path: &std::path::Path, source| LabError::Io {
            variant: variant.to_string(),
            path: path.display().to_string(),
            source,
        };
        self.streams = Vec::with_capacity(self.groups.len());
        for (g, spec) in self.groups.iter().enumerate() {
            let svc = &self.svcs[self.group_service(g)];
            let url = format!("http://{}:{}/", svc.vip, svc.port);
            let stream = match (&spec.load, &spec.output) {
                (Load::Vegeta { .. }, Some(template)) => {
                    let name = stream_name(&template.replace("{variant}", &self.variant));
                    let path = out.file(&name).map_err(|e| LabError::Out {
                        variant: self.variant.clone(),
                        source: e,
                    })?;
                    let tmp = crate::output::tmp_path(&path);
                    let file =
                        std::fs::File::create(&tmp).map_err(|e| err(&self.variant, &tmp, e))?;
                    let writer = crate::tools::vegeta::VegetaCsvWriter::new(
                        std::io::BufWriter::new(file),
                        crate::tools::DEFAULT_EPOCH_NS,
                        &spec.name,
                        "GET",
                        &url,
                    );
                    Some(ResultStream { writer, tmp, path })
                }
                _ => None,
            };
            self.streams.push(stream);
        }
        Ok(())
    }

    /// Flush and rename the results streams.
    pub(super) fn close_streams(&mut self) -> Result<(), LabError> {
        use std::io::Write;
        if let Some((path, source)) = self.stream_error.take() {
            return Err(LabError::Io {
                variant: self.variant.clone(),
                path,
                source,
            });
        }
        for s in std::mem::take(&mut self.streams).into_iter().flatten() {
            let io = |source| LabError::Io {
                variant: self.variant.clone(),
                path: s.path.display().to_string(),
                source,
            };
            let mut w = s.writer.into_inner().map_err(io)?;
            w.flush().map_err(io)?;
            std::fs::rename(&s.tmp, &s.path).map_err(io)?;
        }
        Ok(())
    }

    /// Feed a finished request to its group's load-tool recorder and its ping log.
    pub(super) fn record_tool(&mut self, req: &Req, outcome: Result<(), ErrorKind>, now: SimTime) {
        let client = &mut self.clients[req.client as usize];
        if let Some(probe) = client
            .ping_log
            .as_mut()
            .and_then(|l| l.get_mut(req.seq as usize))
        {
            if outcome.is_ok() {
                probe.reply = Some(now);
            }
        }
        let group = client.group as usize;
        let (bytes_out, bytes_in) = (client.request_bytes, client.response_bytes);
        let Some(Some(rec)) = self.recorders.get_mut(group) else {
            return;
        };
        use crate::tools::{Outcome, RequestRecord, TransportError};
        let outcome = match outcome {
            Ok(()) => Outcome::Response(200),
            Err(ErrorKind::Reset) => Outcome::Failed(TransportError::Reset),
            Err(ErrorKind::Timeout) => Outcome::Failed(TransportError::Timeout),
            Err(ErrorKind::Refused) => Outcome::Failed(TransportError::Refused),
            // nginx's answer: 504 Gateway Timeout, 502 Bad Gateway.
            Err(ErrorKind::Gateway { timeout }) => {
                Outcome::Response(if timeout { 504 } else { 502 })
            }
        };
        let record = RequestRecord {
            seq: req.seq,
            start: req.start,
            latency: now - req.start,
            outcome,
            bytes_in: if outcome.is_success() {
                u64::from(bytes_in)
            } else {
                0
            },
            bytes_out: u64::from(bytes_out),
        };
        rec.record(&record);
        if let Some(Some(stream)) = self.streams.get_mut(group) {
            if let Err(e) = stream.writer.write(&record) {
                if self.stream_error.is_none() {
                    self.stream_error = Some((stream.path.display().to_string(), e));
                }
            }
        }
    }
}
