//! With the `count-allocations` feature: `stats_alloc`'s counting allocator as the process's
//! global allocator, and `GET /admin/allocations` on the gateway to read its counts, so that
//! a benchmark can divide what a load run added by the requests it made
//! (`scripts/http_bench.sh --allocations`). Off by default: the count is an atomic add on
//! every allocation, shared by every thread.

use std::alloc::System;

use axum::Json;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The process's allocations so far (a `realloc` counts as one), and the bytes of the blocks
/// they asked for (a `realloc`, the size it grew by).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Allocations {
    allocations: usize,
    bytes: usize,
}

pub(crate) async fn read() -> Json<Allocations> {
    let stats = GLOBAL.stats();
    Json(Allocations {
        allocations: stats.allocations + stats.reallocations,
        bytes: stats.bytes_allocated + stats.bytes_reallocated.max(0).unsigned_abs(),
    })
}
