//! The run's trace as it grows: chunks of a fixed capacity instead of one `Vec`.
//!
//! A fleet run's trace holds hundreds of thousands of events; one `Vec` grew by doubling, each time
//! copying every event into freshly faulted pages (15 % of `fleet-1k-7d` under mimalloc, which cannot
//! remap a large block in place as glibc's `realloc` does). Chunks never move what they hold.

use crate::runner::TraceEvent;

/// Events per chunk.
const CHUNK: usize = 4096;

/// Every input and output of a run, in order ([`TraceEvent`]).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    chunks: Vec<Vec<TraceEvent>>,
    len: usize,
}

impl Trace {
    /// Appends an event.
    pub fn push(&mut self, event: TraceEvent) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(event),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(event);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The events, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &TraceEvent> + Clone {
        self.chunks.iter().flatten()
    }
}

impl<'a> IntoIterator for &'a Trace {
    type Item = &'a TraceEvent;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<TraceEvent>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drsim_engine::ids::ItemId;
    use drsim_engine::protocol::{Input, Observation};

    #[test]
    fn events_keep_their_order_across_chunks() {
        let mut t = Trace::default();
        assert!(t.is_empty());
        let n = 2 * CHUNK + 3;
        for k in 0..n as u64 {
            t.push(TraceEvent::In {
                t: k,
                input: Input::Observation(Observation::PointCadence {
                    item: ItemId::from("a"),
                    cadence: None,
                }),
            });
        }
        assert_eq!(t.len(), n);
        assert_eq!(t.chunks.len(), 3);
        let times: Vec<u64> = (&t)
            .into_iter()
            .map(|e| match e {
                TraceEvent::In { t, .. } | TraceEvent::Out { t, .. } => *t,
            })
            .collect();
        assert_eq!(times, (0..n as u64).collect::<Vec<_>>());
        assert_eq!(t.iter().count(), n);
    }
}
