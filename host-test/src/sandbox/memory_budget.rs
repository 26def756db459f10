//! One tenant's memory cap, counted over all of its instance's linear memories together.
//!
//! wasmtime's `StoreLimits` caps each linear memory on its own, so a component with four
//! memories could use four times `memory_mib`. This limiter keeps one running total per store
//! (each store holds one tenant's instance) and refuses, with a trap, any growth past the cap.

use wasmtime::ResourceLimiter;

/// Tables a component may grow its tables to, in elements; far above what a Rust component
/// needs, far below what could exhaust the host.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The memory budget of one store.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    /// The cap over all linear memories, in bytes.
    limit: usize,
    /// Bytes granted so far, over all linear memories.
    used: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none used yet.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget { limit, used: 0 }
    }

    /// Bytes granted so far, over all linear memories.
    pub fn used(&self) -> usize {
        self.used
    }
}

impl ResourceLimiter for MemoryBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.used.saturating_add(growth);
        if total > self.limit || maximum.is_some_and(|max| desired > max) {
            // The runtime names the tenant and its limit from this text ("memory" and "limit").
            wasmtime::bail!(
                "memory limit: growing a linear memory to {desired} bytes would bring the \
                 instance to {total} bytes, over its limit of {} bytes",
                self.limit
            );
        }
        self.used = total;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("memory limit: growing a linear memory failed"))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn the_cap_covers_all_memories_together() {
        let mut budget = MemoryBudget::new(10 * MIB);
        // Two memories created at 4 MiB each, then one grows.
        assert!(budget.memory_growing(0, 4 * MIB, None).unwrap());
        assert!(budget.memory_growing(0, 4 * MIB, None).unwrap());
        assert!(budget.memory_growing(4 * MIB, 6 * MIB, None).unwrap());
        assert_eq!(budget.used(), 10 * MIB);
        // Each memory is under the cap on its own, but together they would not be.
        let err = budget.memory_growing(4 * MIB, 5 * MIB, None).unwrap_err();
        assert!(format!("{err:?}").contains("memory limit"), "{err:?}");
        assert_eq!(budget.used(), 10 * MIB);
    }

    #[test]
    fn a_memory_maximum_is_respected_and_tables_are_bounded() {
        let mut budget = MemoryBudget::new(100 * MIB);
        assert!(budget.memory_growing(0, 2 * MIB, Some(MIB)).is_err());
        assert!(budget.table_growing(0, 100, None).unwrap());
        assert!(!budget
            .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
            .unwrap());
        assert!(!budget.table_growing(0, 100, Some(50)).unwrap());
    }
}
