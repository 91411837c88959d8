//! Simulated time: integer milliseconds since the start of a run. Never a float, never a wall clock
//! (ARCHITECTURE.md "determinism rules").

/// A point in simulated time, or a duration, in milliseconds.
pub type Millis = u64;

/// One second in [`Millis`].
pub const SECOND_MS: Millis = 1_000;
/// One minute in [`Millis`].
pub const MINUTE_MS: Millis = 60 * SECOND_MS;
/// One hour in [`Millis`].
pub const HOUR_MS: Millis = 60 * MINUTE_MS;
/// One day in [`Millis`].
pub const DAY_MS: Millis = 24 * HOUR_MS;
