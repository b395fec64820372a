//! Benchmarks that drive a real Lattice server over its public API:
//! `loadgen` (throughput, latency, sync, memory) and `e2ee` (what
//! end-to-end encryption costs a client). Shared here: starting the server
//! as a process, a small Matrix client over reqwest, and a bare HTTP/1.1
//! connection for the measured loops.

pub mod client;
pub mod raw;
pub mod server;
