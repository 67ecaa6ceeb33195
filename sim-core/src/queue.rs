//! The event queue and the driver: events ordered by (time, insertion sequence), time jumping
//! from one event to the next.
//!
//! Ties pop first-in first-out because the sequence number is assigned at insertion, so payloads
//! are never compared (nexosim `util/priority_queue.rs`). Scheduling in the past is an error.

use crate::time::{SimDuration, SimTime};

/// An attempt to schedule an event before the current time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event scheduled at {at} but the simulation is already at {now}")]
pub struct ScheduleInPast {
    /// The current time.
    pub now: SimTime,
    /// The requested time.
    pub at: SimTime,
}

/// One pending event; `key` is the time in its high 64 bits and the insertion sequence in its
/// low ones, so one integer comparison orders by (time, insertion).
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    fn time(&self) -> SimTime {
        SimTime((self.key >> 64) as u64)
    }
}

/// A 4-ary min-heap on the entries' keys: half the levels of a binary heap, and the four
/// children of a node share a cache line or two, so a pop touches less memory. The order is
/// that of the keys alone (unique: the sequence never repeats), so it is the binary heap's.
struct Heap<E> {
    v: Vec<Entry<E>>,
}

impl<E> Heap<E> {
    const ARITY: usize = 4;

    fn push(&mut self, e: Entry<E>) {
        let mut i = self.v.len();
        self.v.push(e);
        while i > 0 {
            let parent = (i - 1) / Self::ARITY;
            if self.v[i].key >= self.v[parent].key {
                break;
            }
            self.v.swap(i, parent);
            i = parent;
        }
    }

    fn pop(&mut self) -> Option<Entry<E>> {
        let last = self.v.pop()?;
        if self.v.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.v[0], last);
        let n = self.v.len();
        let mut i = 0;
        loop {
            let first = i * Self::ARITY + 1;
            if first >= n {
                break;
            }
            let end = (first + Self::ARITY).min(n);
            let mut min = first;
            for c in first + 1..end {
                if self.v[c].key < self.v[min].key {
                    min = c;
                }
            }
            if self.v[min].key >= self.v[i].key {
                break;
            }
            self.v.swap(i, min);
            i = min;
        }
        Some(top)
    }

    fn peek(&self) -> Option<&Entry<E>> {
        self.v.first()
    }
}

/// The heap key of an event at `at` inserted as number `seq`.
#[inline]
fn key(at: SimTime, seq: u64) -> u128 {
    u128::from(at.0) << 64 | u128::from(seq)
}

/// Pending events and the current time. Handlers receive it to schedule follow-ups.
pub struct Scheduler<E> {
    now: SimTime,
    next_seq: u64,
    heap: Heap<E>,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> {
    /// Bytes one pending event takes in the queue (for cost estimates).
    pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry<E>>();

    /// An empty queue at time zero.
    pub fn new() -> Self {
        Scheduler {
            now: SimTime::ZERO,
            next_seq: 0,
            heap: Heap { v: Vec::new() },
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedule `event` at `at`.
    ///
    /// # Errors
    /// [`ScheduleInPast`] if `at` is before the current time; nothing is queued.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) -> Result<(), ScheduleInPast> {
        if at < self.now {
            return Err(ScheduleInPast { now: self.now, at });
        }
        self.heap.push(Entry {
            key: key(at, self.next_seq),
            event,
        });
        self.next_seq += 1;
        Ok(())
    }

    /// Schedule `event` after `delay` from now; never in the past.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        let at = self.now + delay;
        self.heap.push(Entry {
            key: key(at, self.next_seq),
            event,
        });
        self.next_seq += 1;
    }

    /// The time of the earliest pending event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(Entry::time)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.v.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.v.is_empty()
    }

    /// Remove the earliest event and advance the clock to it.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let entry = self.heap.pop()?;
        self.now = entry.time();
        Some((self.now, entry.event))
    }

    /// Advance the clock to `t` without an event (only forwards).
    pub fn advance_to(&mut self, t: SimTime) {
        if t > self.now {
            self.now = t;
        }
    }
}

/// Something driven by events: the runner's world.
pub trait Model {
    /// The event payload.
    type Event;
    /// React to one event at the scheduler's current time; schedule follow-ups on `sched`.
    fn handle(&mut self, event: Self::Event, sched: &mut Scheduler<Self::Event>);
}

/// A model with its queue: the driver (`step`, `run_until`).
pub struct Simulation<M: Model> {
    /// The world being simulated.
    pub model: M,
    /// Pending events and the clock.
    pub sched: Scheduler<M::Event>,
    events: u64,
}

impl<M: Model> Simulation<M> {
    /// A simulation at time zero with nothing scheduled.
    pub fn new(model: M) -> Self {
        Simulation {
            model,
            sched: Scheduler::new(),
            events: 0,
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.sched.now()
    }

    /// Events handled so far.
    pub fn events_processed(&self) -> u64 {
        self.events
    }

    /// Handle the next event; returns its time, or `None` when nothing is pending.
    pub fn step(&mut self) -> Option<SimTime> {
        let (t, ev) = self.sched.pop()?;
        self.events += 1;
        self.model.handle(ev, &mut self.sched);
        Some(t)
    }

    /// As [`Simulation::run_until`], but return after at most `budget` events; `true` once
    /// `until` is reached. Stepping in slices handles exactly the events `run_until` would, in
    /// the same order, so a caller can report progress or stop early without changing a result.
    pub fn run_for(&mut self, until: SimTime, budget: u64) -> bool {
        for _ in 0..budget {
            match self.sched.peek_time() {
                Some(t) if t <= until => {
                    self.step();
                }
                _ => {
                    self.sched.advance_to(until);
                    return true;
                }
            }
        }
        false
    }

    /// Handle every event up to and including `until`, then set the clock to `until`.
    pub fn run_until(&mut self, until: SimTime) {
        while let Some(t) = self.sched.peek_time() {
            if t > until {
                break;
            }
            self.step();
        }
        self.sched.advance_to(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_in_slices_handles_what_one_run_handles() {
        struct Chain(Vec<SimTime>);
        impl Model for Chain {
            type Event = u32;
            fn handle(&mut self, n: u32, sched: &mut Scheduler<u32>) {
                self.0.push(sched.now());
                if n > 0 {
                    sched.schedule_in(SimDuration(n as u64 % 7 + 1), n - 1);
                    sched.schedule_in(SimDuration(3), 0);
                }
            }
        }
        let mut whole = Simulation::new(Chain(Vec::new()));
        whole.sched.schedule_at(SimTime(0), 1000).unwrap();
        whole.run_until(SimTime(2_000));
        let mut sliced = Simulation::new(Chain(Vec::new()));
        sliced.sched.schedule_at(SimTime(0), 1000).unwrap();
        let mut slices = 0;
        while !sliced.run_for(SimTime(2_000), 64) {
            slices += 1;
        }
        assert!(slices > 10);
        assert_eq!(whole.model.0, sliced.model.0);
        assert_eq!(whole.events_processed(), sliced.events_processed());
        assert_eq!(whole.now(), sliced.now());
    }

    #[test]
    fn ties_pop_in_insertion_order() {
        let mut q = Scheduler::new();
        for i in 0..100u32 {
            q.schedule_at(SimTime(5), i).unwrap();
        }
        q.schedule_at(SimTime(1), 1000).unwrap();
        assert_eq!(q.pop(), Some((SimTime(1), 1000)));
        for i in 0..100u32 {
            assert_eq!(q.pop(), Some((SimTime(5), i)));
        }
        assert_eq!(q.pop(), None);
    }

    proptest::proptest! {
        /// Any interleaving of pushes and pops comes out in (time, insertion) order, as a
        /// sorted reference says.
        #[test]
        fn pops_follow_time_then_insertion(ops in proptest::collection::vec((0u64..50, proptest::bool::ANY), 0..400)) {
            let mut q = Scheduler::new();
            let mut reference: Vec<(u64, usize)> = Vec::new();
            for (i, (dt, pop)) in ops.into_iter().enumerate() {
                if pop {
                    reference.sort_unstable();
                    let want = (!reference.is_empty()).then(|| reference.remove(0));
                    let got = q.pop().map(|(t, i): (SimTime, usize)| (t.0, i));
                    proptest::prop_assert_eq!(got, want);
                } else {
                    let at = q.now().0 + dt;
                    q.schedule_at(SimTime(at), i).unwrap();
                    reference.push((at, i));
                }
            }
        }
    }

    /// A deep heap (tens of thousands pending, many ties) pops exactly what std's binary heap
    /// of (time, insertion) says.
    #[test]
    fn deep_queue_pops_as_a_binary_heap_of_time_and_insertion() {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut q = Scheduler::new();
        let mut reference = BinaryHeap::new();
        let mut x = 99u64;
        for i in 0..200_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            if x >> 62 == 0 && !reference.is_empty() {
                let Reverse((t, seq)) = reference.pop().unwrap();
                assert_eq!(q.pop(), Some((SimTime(t), seq)));
            } else {
                let at = q.now().0 + (x >> 33) % 1000;
                q.schedule_at(SimTime(at), i).unwrap();
                reference.push(Reverse((at, i)));
            }
        }
        assert!(q.len() > 50_000);
        while let Some(Reverse((t, seq))) = reference.pop() {
            assert_eq!(q.pop(), Some((SimTime(t), seq)));
        }
        assert!(q.is_empty());
    }

    #[test]
    fn past_is_refused() {
        let mut q = Scheduler::new();
        q.schedule_at(SimTime(10), ()).unwrap();
        q.pop();
        assert_eq!(
            q.schedule_at(SimTime(9), ()),
            Err(ScheduleInPast {
                now: SimTime(10),
                at: SimTime(9)
            })
        );
        assert!(q.is_empty());
    }

    struct Counter {
        seen: Vec<SimTime>,
    }
    impl Model for Counter {
        type Event = u64;
        fn handle(&mut self, gap: u64, sched: &mut Scheduler<u64>) {
            self.seen.push(sched.now());
            if gap < 4 {
                sched.schedule_in(SimDuration(gap * 10), gap + 1);
            }
        }
    }

    #[test]
    fn run_until_jumps_to_events_and_stops_at_the_limit() {
        let mut sim = Simulation::new(Counter { seen: vec![] });
        sim.sched.schedule_at(SimTime(3), 1).unwrap();
        sim.run_until(SimTime(35));
        // 3, 3+10, 13+20 = 33; the next (33+30) lies beyond the limit.
        assert_eq!(sim.model.seen, vec![SimTime(3), SimTime(13), SimTime(33)]);
        assert_eq!(sim.now(), SimTime(35));
        assert_eq!(sim.events_processed(), 3);
        assert_eq!(sim.step(), Some(SimTime(63)));
    }
}
