//! sim-core: the engine of lbsim. It knows no protocol: simulated time, the event queue,
//! seeded random streams, the topology of devices and links, and metrics.
#![warn(missing_docs)]

pub mod time;

pub use time::{SimDuration, SimTime};
