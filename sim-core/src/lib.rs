//! sim-core: the engine of lbsim. It knows no protocol.
//!
//! ```text
//!  Streams (seed, name) ─▶ per-entity ChaCha streams
//!  Scheduler: (time, seq) heap ─▶ Simulation::step / run_until ─▶ Model::handle(event)
//!  Topology: devices + one-way links (delay, bandwidth, FIFO) on petgraph
//!  metrics: LatencyHistogram (HdrHistogram), TimeSeries (100 ms buckets), Balance; EventLog
//!  fluid: FluidNetwork, bulk flows sharing capacity max-min fairly (iperf3 at flow level)
//!  pcap: PcapWriter (classic pcap, ns timestamps) + frame builders (Ethernet/IPv4/TCP/UDP)
//! ```
//!
//! ```
//! use sim_core::{Model, Scheduler, SimDuration, SimTime, Simulation};
//!
//! struct Ping { replies: u32 }
//! impl Model for Ping {
//!     type Event = ();
//!     fn handle(&mut self, _: (), sched: &mut Scheduler<()>) {
//!         self.replies += 1;
//!         sched.schedule_in(SimDuration::from_millis(100), ());
//!     }
//! }
//! let mut sim = Simulation::new(Ping { replies: 0 });
//! sim.sched.schedule_at(SimTime::ZERO, ()).unwrap();
//! sim.run_until(SimTime(SimDuration::from_secs(1).as_nanos()));
//! assert_eq!(sim.model.replies, 11); // t = 0, 0.1, ..., 1.0 s
//! ```
#![warn(missing_docs)]

pub mod fluid;
pub mod log;
pub mod metrics;
pub mod pcap;
pub mod queue;
pub mod rng;
pub mod setting;
pub mod time;
pub mod topology;

pub use log::{EventLog, LogEntry};
pub use metrics::{Balance, HistogramSeries, LatencyHistogram, LogHistogram, TimeSeries};
pub use queue::{Model, ScheduleInPast, Scheduler, Simulation};
pub use rng::{Stream, Streams};
pub use time::{SimDuration, SimTime};
pub use topology::{DeviceId, DeviceKind, LinkId, Topology};
