//! Collecting a log type exactly once: the checkpoint's windows, paging and dedup (`cursor`),
//! one poll that reads a page and turns its records into events (`poll`), the events' shape
//! (`event`) and the canonical record text their ids come from (`canonical`).

pub mod canonical;
pub mod cursor;
pub mod event;
pub mod poll;
