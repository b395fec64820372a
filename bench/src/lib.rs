//! Benchmarks that drive a real Lattice server over its public API:
//! `loadgen` (throughput, latency, sync, memory) and `e2ee` (what
//! end-to-end encryption costs a client). Shared here: starting the server
//! as a process, and a small raw HTTP client.

pub mod client;
pub mod server;
