//! Lattice against clients written by others. The tests in `tests/` start
//! a real Lattice server (on SQLite and on PostgreSQL) and drive it with
//! matrix-rust-sdk, the engine of Element X, exactly as that app does.
