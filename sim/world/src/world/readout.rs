//! Reading a stream as of now without moving it (issue 6). A resync that a share holds in virtual time,
//! and a stream that follows its churn, are brought to a time only when something changes them: the
//! periodic report (a PS's health), the report sampler and the checks between events read them here,
//! in closed form, instead of advancing thousands of streams and their tags every interval.

use super::{Stream, World};

/// What the report sampler reads of a stream as of now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamTotals {
    /// Churn backlog plus what its resync still has to send.
    pub unsent_bytes: u64,
    /// Bytes on the wire so far: churn applied, less backlog folded into a resync, plus resync bytes.
    pub wire_bytes: u64,
    /// Of `wire_bytes`, those carried while not metered (the rest are in [`World::metered_routes`]).
    pub unmetered_wire_bytes: u64,
}

impl World {
    /// The rate a stream is sent at now: its share's level while in virtual time (its own rate was
    /// set when it was last brought to a time), else its own.
    pub(crate) fn stream_rate(&self, s: &Stream) -> u64 {
        match (s.virtual_mark, s.held_by) {
            (Some(_), Some(r)) => (self.shares.by_resource.get(&r)).map_or(0, |sh| sh.level()),
            _ => s.fluid.effective_send_rate_bps(),
        }
    }

    /// A stream's backlog now and the rate it is sent at, for its PS's health. A stream that follows its
    /// churn has none; any other left behind now is a resync (held in virtual time, or under a sync
    /// cadence): until its resync completes (its wake-up) the resync takes the whole rate, so its backlog
    /// is what it had plus the writes since.
    pub(crate) fn stream_load(&self, s: &Stream) -> (u64, u64) {
        let now = self.now();
        if s.follows_churn {
            return (0, s.fluid.effective_send_rate_bps()); // caught up: nothing waits
        }
        if s.fluid.now_ms() < now {
            debug_assert!(
                s.fluid.resync_progress().is_some(),
                "only resyncs are left behind"
            );
            (s.fluid.resync_backlog_bytes_at(now), self.stream_rate(s))
        } else {
            (s.fluid.backlog_bytes(), s.fluid.effective_send_rate_bps())
        }
    }

    /// A stream's unsent and wire bytes as of now ([`StreamTotals`]), also for a stream
    /// [`World::catch_up_for_reading`] left where it was ([`Stream::left_behind`]). Exactly what bringing
    /// the stream to now and reading it would give.
    pub fn stream_totals(&self, s: &Stream) -> StreamTotals {
        let now = self.now();
        let f = &s.fluid;
        // (churn sent, its backlog, resync bytes left, resync bytes sent)
        let (sent, backlog, remaining, resync_sent) = if s.follows_churn && f.now_ms() < now {
            // caught up: everything written is sent, nothing resyncs
            let sent = f.written_bytes_at(now);
            (sent, 0, 0, f.resync_bytes_sent_total())
        } else if let Some(served) = self.shares.served_since(s, now) {
            let (remaining, resync_sent) = f.resync_readout_after(served);
            (
                f.sent_bytes(),
                f.resync_backlog_bytes_at(now),
                remaining,
                resync_sent,
            )
        } else {
            (
                f.sent_bytes(),
                f.backlog_bytes(),
                f.resync_progress().map_or(0, |p| p.remaining_bytes),
                f.resync_bytes_sent_total(),
            )
        };
        let wire_bytes = sent - f.folded_into_resync_bytes().min(sent) + resync_sent;
        StreamTotals {
            unsent_bytes: backlog + remaining,
            wire_bytes,
            unmetered_wire_bytes: s.metered_from_wire.unwrap_or(wire_bytes) - s.metered_bytes,
        }
    }
}
