//! Windows, page tokens and deduplication for one log type: the checkpoint the host stores
//! opaquely. Pure: times are Unix seconds passed in by the caller.
//!
//! How nothing is lost or duplicated (reference §6.6, §7):
//! - Records are read oldest first in windows `[from, to]`, `to = now − lag`. The cursor moves
//!   to `to` only after the last page of the window; the page token is stored *inside* its
//!   window, with the exact `data[0]` item it belongs to, so it is never reused elsewhere.
//! - Each new window starts `overlap` seconds before the cursor, to pick up records that arrived
//!   late. What was already delivered is dropped using `seen`: per record digest, how many
//!   identical copies were delivered before this window (`prior`) and how many this window has
//!   served so far (`current`). The k-th copy served in a window is new only if `k > prior`,
//!   so genuinely repeated records (same content, same second) are all delivered, once each.
//! - `seen` keeps only records that a later window can serve again (time ≥ cursor − overlap,
//!   plus a short slack around the page position), so the checkpoint stays small.
//! - An offset pager re-serves the tail of the previous page when records are inserted before
//!   the current offset (late arrivals). Such a repeat looks like a genuine identical record,
//!   so it is recognised by the growth of `totalCount` between pages: when the count grew by
//!   `g`, a record among the next `g` served that repeats one of the last records served is
//!   not counted again. The one case this cannot tell apart: a genuine identical pair split
//!   exactly at a page boundary while late records were inserted *after* the offset; the second
//!   copy is then taken for a repeat. Shifts are only looked for near the live edge, so such a
//!   copy is normally within the next window's overlap, which reads both copies again and
//!   delivers the second then (late, with the same `event_id`).
//! - A record older than the window's start is never delivered by it: a server that applies
//!   `from` does not serve one, and one that does not would otherwise deliver its whole history
//!   again with every window. Its time was covered by an earlier window (or lies before the
//!   look-back).
//! - A refused page token (expired in an outage, or from the other API version) restarts the
//!   window from its first page: what was served counts as delivered, so only what is new is
//!   delivered. It starts where digests are still known (where pages came in time order), or
//!   at the window's start. A pager that answers a token with the page just served and the
//!   same token again is restarted the same way. After [`QUICK_RESTARTS`], a window is
//!   restarted only [`RESTART_PAUSE_SECS`] after its last restart (the poll fails meanwhile):
//!   it is never taken as complete while its pager names a next page.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SourceError;
use crate::log_type::LogType;

/// Checkpoint format version; a checkpoint of another version is refused with a clear error.
/// Version 2: record keys come from BLAKE3 digests (version 1: SHA-256, before any release).
/// Version 3: Impersonation Protect keys leave out the record's `id` (a retrieval token).
const VERSION: u32 = 3;
/// Keys of the previous page(s) kept to recognise a shifted page (two full pages).
const TAIL_KEYS: usize = 200;
/// Longest window: a long backlog is read in windows of at most a day, so a restart never has
/// to repeat more than one day of paging.
pub const MAX_WINDOW_SECS: i64 = 24 * 3600;
/// Longest window that starts at the retention edge (`oldest` of [`Checkpoint::open_window`]).
pub const EDGE_WINDOW_SECS: i64 = 3600;
/// Records this far behind the newest one served in a window are no longer tracked within it,
/// unless the next window's overlap needs them. Pages of an offset pager can shift by a few
/// records when records arrive mid-window; this slack covers that shift.
const PAGE_SLACK_SECS: i64 = 60;
/// Restarts of one window (see [`Checkpoint::restart_window`]) that go ahead at once; later
/// ones wait for the tenant's interval, so a window whose tokens keep being refused is read
/// again slowly instead of in a tight loop.
pub const QUICK_RESTARTS: u32 = 2;
/// After [`QUICK_RESTARTS`], a window is read again from its first page only this long after
/// its last restart (see [`Checkpoint::may_restart`]); before that, a pager that still does
/// not move is an error.
pub const RESTART_PAUSE_SECS: i64 = 300;
/// How far a checkpoint's cursor or open window may lie ahead of `now − lag` before it is
/// taken as lying in the future (see [`Checkpoint::clamp_future`]). Less than this is a small
/// clock correction, which the overlap covers.
pub const FUTURE_SLACK_SECS: i64 = 300;
/// Longest page token taken from a page (Mimecast's are well under 1 KiB). The token is stored
/// in the checkpoint and sent back in the next request, whose body the host bounds (1 MiB with
/// `mcsource`), so a longer one is refused before anything is committed.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Longest checkpoint handed to the host (typical: about 11 KiB; a day-long window of a server
/// that ignores `oldestFirst` keeps every digest, about 40 bytes a record). `mcsource` accepts
/// at most 64 MiB for a batch's events and checkpoint together.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024 * 1024;

/// Refuses a page token longer than [`MAX_TOKEN_BYTES`] before it can be committed.
///
/// # Errors
/// A transient error naming the bound: the page is fetched again, so a server that recovers is
/// followed without anything being lost, and a token that was never committed never wedges the
/// log type.
pub fn check_token(log_type: LogType, token: &str) -> Result<(), SourceError> {
    if token.len() <= MAX_TOKEN_BYTES {
        return Ok(());
    }
    Err(SourceError::Transient(format!(
        "Mimecast answered a {log_type} page with a page token of {} bytes; page tokens of at \
         most {MAX_TOKEN_BYTES} bytes (64 KiB) are accepted, so the page is not taken and \
         nothing is committed; the same page is asked for again",
        token.len()
    )))
}

/// An open window: its bounds, the exact request item, and the token for its next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start, Unix seconds.
    pub from: i64,
    /// End, Unix seconds.
    pub to: i64,
    /// The `data[0]` item sent on every page of this window.
    pub item: Value,
    /// Token for the next page; `None` before the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Newest record time served in this window so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<i64>,
    /// `totalCount` of the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Dedup keys of the records last served in this window, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tail: Vec<u64>,
    /// Upcoming stream places in which shifted records may come back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub watch: u32,
    /// A record came more than the page slack before the newest one: the pages are not in
    /// time order (a server that ignores `oldestFirst`), so no digest of this window may be
    /// forgotten before the window ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unordered: bool,
    /// A record came later in time than every one before it: the pages are oldest first (a
    /// newest-first pager never serves a newer record after an older one within a window).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ascending: bool,
    /// Digests of records older than this were forgotten mid-window (all of them delivered):
    /// where a restarted window begins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgotten_below: Option<i64>,
    /// Times this window was read again from its first page (see [`Checkpoint::restart_window`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
    /// When this window was last read again from its first page, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<i64>,
    /// Fingerprint of the keys of the last page served, repeats included (see
    /// [`Checkpoint::is_repeated_page`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_page: Option<u64>,
    /// The window reached the present (`now − lag`) when it was opened, rather than stopping
    /// short of a longer backlog. What arrives while it is read is collected at the next
    /// interval, not at once: chasing the present page by page would never end (a `--once`
    /// run would never finish) when reading a window takes longer than a second.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub present: bool,
}

/// A fingerprint of a page's keys, in order.
fn page_fingerprint(keys: &[u64]) -> u64 {
    keys.iter().fold(keys.len() as u64, |h, k| {
        (h.rotate_left(17) ^ k).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    })
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Window {
    /// A window `[from, to]` about to ask for its first page with `item`.
    fn first_page(from: i64, to: i64, item: Value, restarts: u32, present: bool) -> Window {
        Window {
            from,
            to,
            item,
            token: None,
            newest: None,
            total: None,
            tail: Vec::new(),
            watch: 0,
            unordered: false,
            ascending: false,
            forgotten_below: None,
            restarts,
            restarted_at: None,
            last_page: None,
            present,
        }
    }

    /// Marks the records of a page that the pager serves again because it shifted. When
    /// `totalCount` grew by `g` since the last page, up to `g` records were inserted before the
    /// offset, and the records they pushed past it come back within the next `g` places of the
    /// stream (on this page or later ones, interleaved with the inserted records). A record in
    /// those places that was among the last records served is such a repeat. Only records at or
    /// after `horizon` can still arrive, so when pages come oldest first, positions older than
    /// that never shift; pages that might be newest first (no record has yet come after an
    /// older one) shift whenever anything arrives, as arrivals go to the front.
    fn repeats(&mut self, keys: &[u64], total: Option<u64>, horizon: i64) -> Vec<bool> {
        let mut repeated = vec![false; keys.len()];
        let settled = self.ascending && !self.unordered;
        if self.newest.is_none() || (settled && self.newest.is_some_and(|n| n < horizon)) {
            self.watch = 0;
        } else if let (Some(before), Some(now)) = (self.total, total) {
            let grown = u32::try_from(now.saturating_sub(before)).unwrap_or(u32::MAX);
            self.watch = self.watch.saturating_add(grown);
        }
        if self.watch == 0 {
            return repeated;
        }
        let mut recent: Vec<u64> = self.tail.iter().rev().take(TAIL_KEYS).copied().collect();
        for (pos, key) in keys.iter().enumerate() {
            if self.watch == 0 {
                break;
            }
            self.watch -= 1;
            if let Some(at) = recent.iter().position(|k| k == key) {
                recent.swap_remove(at);
                repeated[pos] = true;
            }
        }
        repeated
    }
}

/// Delivery counts for one record digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// Record time (Unix seconds); for a record without a time, the end of its window.
    time: i64,
    /// Copies delivered by earlier windows.
    prior: u32,
    /// Copies served by the open window so far.
    current: u32,
}

/// The per-log-type checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    log_type: LogType,
    /// End of the last completed window, Unix seconds; `None` before the first one completes.
    cursor: Option<i64>,
    window: Option<Window>,
    seen: BTreeMap<u64, Seen>,
}

/// Serialised form: compact, versioned, tagged with its log type.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    log_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<Window>,
    /// `[key, time, prior, current]` per tracked digest.
    #[serde(default)]
    seen: Vec<(u64, i64, u32, u32)>,
}

/// What the cursor decided for one record of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New: deliver it as this occurrence (1-based) of its content.
    Deliver(u32),
    /// Already delivered by an earlier window.
    Duplicate,
    /// Older than the window's start: a server that does not apply `from` serves it again. An
    /// earlier window covered its time (or it is older than the look-back), so it is dropped.
    BeforeWindow,
}

impl Checkpoint {
    /// A fresh checkpoint for a log type that was never polled.
    pub fn new(log_type: LogType) -> Checkpoint {
        Checkpoint {
            log_type,
            cursor: None,
            window: None,
            seen: BTreeMap::new(),
        }
    }

    /// Reads a checkpoint the host passed back.
    ///
    /// # Errors
    /// The text is not a checkpoint of this version, or belongs to another log type.
    pub fn decode(log_type: LogType, text: &str) -> Result<Checkpoint, SourceError> {
        let stored: Stored = serde_json::from_str(text).map_err(|e| {
            SourceError::InvalidConfig(format!(
                "the stored {log_type} checkpoint is unreadable ({e}); it was not written by this \
                 component. Remove it from the state store to start over from `lookback` (with the \
                 bundled host: `mcsource reset --config FILE --tenant ID --log-type {}`)",
                log_type.as_str()
            ))
        })?;
        if stored.v != VERSION {
            return Err(SourceError::InvalidConfig(format!(
                "the stored {log_type} checkpoint has version {}, this component reads version \
                 {VERSION}; run the component that wrote it, or remove the checkpoint to start \
                 over from `lookback` (with the bundled host: `mcsource reset --config FILE --tenant \
                 ID --log-type {}`)",
                stored.v,
                log_type.as_str()
            )));
        }
        if stored.log_type != log_type.as_str() {
            return Err(SourceError::InvalidConfig(format!(
                "the checkpoint passed for {log_type} logs belongs to {} logs",
                stored.log_type
            )));
        }
        let seen = stored
            .seen
            .into_iter()
            .map(|(k, time, prior, current)| {
                (
                    k,
                    Seen {
                        time,
                        prior,
                        current,
                    },
                )
            })
            .collect();
        Ok(Checkpoint {
            log_type,
            cursor: stored.cursor,
            window: stored.window,
            seen,
        })
    }

    /// The opaque text handed to the host.
    pub fn encode(&self) -> String {
        let stored = Stored {
            v: VERSION,
            log_type: self.log_type.as_str().to_string(),
            cursor: self.cursor,
            window: self.window.clone(),
            seen: self
                .seen
                .iter()
                .map(|(k, s)| (*k, s.time, s.prior, s.current))
                .collect(),
        };
        // Serialising plain structs and numbers cannot fail.
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// [`Checkpoint::encode`], refused when longer than [`MAX_CHECKPOINT_BYTES`].
    ///
    /// # Errors
    /// A transient error naming the bound: nothing is committed and the page is fetched again.
    pub fn encode_bounded(&self) -> Result<String, SourceError> {
        let text = self.encode();
        if text.len() <= MAX_CHECKPOINT_BYTES {
            return Ok(text);
        }
        Err(SourceError::Transient(format!(
            "the {} checkpoint after this page would be {} bytes ({} record digests kept for \
             deduplication); checkpoints of at most {MAX_CHECKPOINT_BYTES} bytes (16 MiB) are \
             handed to the host, so the page is not taken and nothing is committed; the same \
             page is asked for again",
            self.log_type,
            text.len(),
            self.seen.len()
        )))
    }

    /// Drops an open window's page token that is longer than [`MAX_TOKEN_BYTES`] (stored by
    /// an earlier version that did not bound it; sending it back would fail every time) and
    /// reads the window again from its first page, like a refused token (see
    /// [`Checkpoint::restart_window`]). Returns the dropped token's length.
    pub fn drop_oversized_token(
        &mut self,
        make_item: impl FnOnce(i64, i64) -> Value,
    ) -> Option<usize> {
        let len = self
            .window
            .as_ref()
            .and_then(|w| w.token.as_ref())
            .map(String::len)
            .filter(|&len| len > MAX_TOKEN_BYTES)?;
        self.restart_window(make_item);
        Some(len)
    }

    /// Brings a checkpoint that lies in the future back to just before `end` (`now − lag`):
    /// a cursor, or an open window's end, more than [`FUTURE_SLACK_SECS`] after `end` (the
    /// host clock was set back, or the checkpoint was written elsewhere). Such a cursor would
    /// collect nothing until the clock reaches it and then skip every record that arrived
    /// meanwhile; brought back, the next window (opened at once) re-reads from
    /// `end − overlap`, so nothing is lost. A record the checkpoint no longer knows (delivered
    /// before the old cursor's overlap, so at most the last `lag + overlap` of records) may
    /// come again, with the same `event_id`. An open window that reaches into the future is
    /// dropped (what it served counts as delivered, so it is not delivered again) and a new
    /// one opened. Returns the time in the future the checkpoint pointed to, if it was
    /// brought back.
    pub fn clamp_future(&mut self, end: i64) -> Option<i64> {
        let limit = end.saturating_add(FUTURE_SLACK_SECS);
        let window_end = self.window.as_ref().map(|w| w.to).filter(|&to| to > limit);
        let cursor = self.cursor.filter(|&c| c > limit);
        let future = window_end.max(cursor)?;
        if window_end.is_some() {
            self.window = None;
            self.count_served_as_delivered();
        }
        // Just before `end`, so that the next window opens at once.
        self.cursor = self.cursor.map(|c| c.min(end.saturating_sub(1)));
        Some(future)
    }

    /// End of the last completed window, Unix seconds.
    pub fn cursor(&self) -> Option<i64> {
        self.cursor
    }

    /// The open window, if any.
    pub fn window(&self) -> Option<&Window> {
        self.window.as_ref()
    }

    /// Number of digests tracked for deduplication.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    /// Opens the next window if none is open. `end` is `now − lag`; `first_from` is where a
    /// never-polled log type starts (`end − lookback`); no window reaches back before `oldest`
    /// (the retention edge: older records are purged, and reading at the edge would have them
    /// purged from under the pager); `make_item` builds the request item.
    /// Returns `false` when there is nothing new to read yet (caught up).
    pub fn open_window(
        &mut self,
        end: i64,
        first_from: i64,
        oldest: i64,
        overlap: i64,
        make_item: impl FnOnce(i64, i64) -> Value,
    ) -> bool {
        if self.window.is_some() {
            return true;
        }
        let (start, from) = match self.cursor {
            Some(cursor) => (
                cursor.max(oldest),
                cursor.saturating_sub(overlap).max(oldest),
            ),
            None => (first_from.max(oldest), first_from.max(oldest)),
        };
        if end <= start {
            return false;
        }
        // Near the edge a window is short, so it is read before the edge reaches it: at most
        // its distance from the edge plus an hour (one hour at the edge, doubling after).
        let edge_room = start
            .saturating_sub(oldest)
            .saturating_add(EDGE_WINDOW_SECS);
        let to = end.min(start.saturating_add(MAX_WINDOW_SECS.min(edge_room)));
        // Digests older than the window can never be served by it.
        self.seen.retain(|_, s| s.time >= from);
        let present = to == end;
        self.window = Some(Window::first_page(
            from,
            to,
            make_item(from, to),
            0,
            present,
        ));
        true
    }

    /// Whether `keys`, answered with `next` for the window's current token, are the page just
    /// served again under the same token: the pager is not moving, and following it would
    /// serve the same records forever.
    pub fn is_repeated_page(&self, keys: &[u64], next: Option<&str>) -> bool {
        self.window.as_ref().is_some_and(|w| {
            !keys.is_empty()
                && w.token.is_some()
                && next == w.token.as_deref()
                && w.last_page == Some(page_fingerprint(keys))
        })
    }

    /// Reads the open window again from its first page, with a new request item, after
    /// Mimecast refused its page token (it expired, or belongs to another API version).
    /// Everything served so far counts as delivered, so nothing is delivered twice. It starts
    /// where digests are still known: the window's start, or, when pages came in time order
    /// and older digests were forgotten, the oldest time still tracked (everything before it
    /// was served). Returns how often this window has been restarted, or `None` when no window
    /// is open.
    pub fn restart_window(&mut self, make_item: impl FnOnce(i64, i64) -> Value) -> Option<u32> {
        self.reopen(i64::MIN, 1, make_item)
    }

    /// Whether the open window may be read again from its first page at `now` (Unix seconds)
    /// because its pager does not move (a refused token, a page served again under the same
    /// token): at once for the first [`QUICK_RESTARTS`] times, then [`RESTART_PAUSE_SECS`]
    /// after the last restart. `false` when no window is open.
    pub fn may_restart(&self, now: i64) -> bool {
        self.window.as_ref().is_some_and(|w| {
            w.restarts < QUICK_RESTARTS
                || w.restarted_at
                    .is_none_or(|at| now.saturating_sub(at) >= RESTART_PAUSE_SECS)
        })
    }

    /// [`Checkpoint::restart_window`], noting `now` (Unix seconds) as the time of the restart
    /// (see [`Checkpoint::may_restart`]).
    pub fn restart_window_at(
        &mut self,
        now: i64,
        make_item: impl FnOnce(i64, i64) -> Value,
    ) -> Option<u32> {
        let restarts = self.restart_window(make_item)?;
        if let Some(w) = self.window.as_mut() {
            w.restarted_at = Some(now);
        }
        Some(restarts)
    }

    /// Moves an open window that reaches back past `oldest` (the retention edge, see
    /// [`Checkpoint::open_window`]) to begin there, read again from its first page like a
    /// restarted one: a checkpoint left mid-window for a month. Returns whether it moved.
    pub fn clear_edge(&mut self, oldest: i64, make_item: impl FnOnce(i64, i64) -> Value) -> bool {
        let Some(w) = self.window.as_ref().filter(|w| w.from < oldest) else {
            return false;
        };
        if w.to <= oldest {
            // All of it is past the edge: nothing in it can be read any more. It ends, and the
            // next window begins at the edge.
            self.cursor = Some(w.to);
            self.window = None;
            self.count_served_as_delivered();
            return true;
        }
        self.reopen(oldest, 0, make_item).is_some()
    }

    /// Reads the open window again from its first page, beginning no earlier than `oldest`,
    /// and adds `restarts` to its restart count (see [`Checkpoint::restart_window`]).
    fn reopen(
        &mut self,
        oldest: i64,
        restarts: u32,
        make_item: impl FnOnce(i64, i64) -> Value,
    ) -> Option<u32> {
        let w = self.window.as_ref()?;
        let from = match w.forgotten_below {
            Some(floor) if !w.unordered => floor.max(w.from),
            _ => w.from,
        };
        // A window of at least a second: a server may refuse `from` equal to `to`.
        let from = from.max(oldest).min(w.to.saturating_sub(1));
        let (to, restarts, present) = (w.to, w.restarts.saturating_add(restarts), w.present);
        self.count_served_as_delivered();
        self.window = Some(Window::first_page(
            from,
            to,
            make_item(from, to),
            restarts,
            present,
        ));
        Some(restarts)
    }

    /// Everything served so far counts as delivered (`prior`), and counting starts anew.
    fn count_served_as_delivered(&mut self) {
        for s in self.seen.values_mut() {
            s.prior = s.prior.max(s.current);
            s.current = 0;
        }
    }

    /// Decides for each record of a page, in order, whether it is new. `records` holds each
    /// record's dedup key and time (`None` when unreadable); `total` is the page's `totalCount`;
    /// `horizon` is the oldest record time that can still be arriving (`now − overlap − lag`).
    pub fn accept(
        &mut self,
        records: &[(u64, Option<i64>)],
        total: Option<u64>,
        horizon: i64,
    ) -> Vec<Verdict> {
        let Some(window) = self.window.as_mut() else {
            return Vec::new();
        };
        let keys: Vec<u64> = records.iter().map(|r| r.0).collect();
        window.last_page = Some(page_fingerprint(&keys));
        let repeated = window.repeats(&keys, total, horizon);
        window.total = total;
        let fresh = keys
            .iter()
            .zip(&repeated)
            .filter(|(_, r)| !**r)
            .map(|(k, _)| *k);
        window.tail.extend(fresh);
        let excess = window.tail.len().saturating_sub(TAIL_KEYS);
        window.tail.drain(..excess);
        let mut out = Vec::with_capacity(records.len());
        for (&(key, time), repeat) in records.iter().zip(repeated) {
            if repeat {
                out.push(Verdict::Duplicate);
                continue;
            }
            if time.is_some_and(|t| t < window.from) {
                out.push(Verdict::BeforeWindow);
                continue;
            }
            if let Some(t) = time {
                window.unordered |= window.newest.is_some_and(|n| t < n - PAGE_SLACK_SECS);
                window.ascending |= window.newest.is_some_and(|n| t > n);
                window.newest = Some(window.newest.map_or(t, |n| n.max(t)));
            }
            let entry = self.seen.entry(key).or_insert(Seen {
                time: time.unwrap_or(window.to),
                prior: 0,
                current: 0,
            });
            entry.current = entry.current.saturating_add(1);
            out.push(if entry.current > entry.prior {
                Verdict::Deliver(entry.current)
            } else {
                Verdict::Duplicate
            });
        }
        out
    }

    /// Records the end of a page. With a `next` token and a non-empty page the window goes on;
    /// otherwise it is complete and the cursor moves to its end (§6.6 #8: either signal ends it).
    /// Returns `true` when the window was completed.
    pub fn finish_page(
        &mut self,
        next: Option<String>,
        page_was_empty: bool,
        overlap: i64,
    ) -> bool {
        let Some(window) = self.window.as_mut() else {
            return false;
        };
        match next {
            Some(token) if !page_was_empty => {
                window.token = Some(token);
                // Forget digests the pager has moved well past and the next window won't re-read,
                // when pages come in time order. Digests earlier windows delivered (`prior`) stay
                // until the window ends: this window may still serve them.
                if let Some(newest) = window.newest.filter(|_| !window.unordered) {
                    let keep_from = (window.to - overlap).min(newest - PAGE_SLACK_SECS);
                    let before = self.seen.len();
                    self.seen.retain(|_, s| s.time >= keep_from || s.prior > 0);
                    // Only a floor below which something was really forgotten: a first page
                    // that merely looks ordered must not move a restart past unread records.
                    if self.seen.len() < before {
                        window.forgotten_below = Some(
                            window
                                .forgotten_below
                                .map_or(keep_from, |f| f.max(keep_from)),
                        );
                    }
                }
                false
            }
            _ => {
                let to = window.to;
                self.window = None;
                self.cursor = Some(to);
                let keep_from = to - overlap;
                self.seen.retain(|_, s| s.time >= keep_from);
                self.count_served_as_delivered();
                true
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn item(from: i64, to: i64) -> Value {
        json!({"from": from, "to": to})
    }

    #[test]
    fn a_cursor_in_the_future_is_brought_back_and_nothing_is_lost_or_repeated() {
        // Collected up to 10_000 by a clock that was a day ahead.
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        assert!(cp.open_window(10_000, 9_000, i64::MIN, 300, item));
        assert_eq!(
            cp.accept(&[(1, Some(9_500))], None, 0),
            vec![Verdict::Deliver(1)]
        );
        cp.finish_page(None, false, 300);
        assert_eq!(cp.cursor(), Some(10_000));
        let mut cp = Checkpoint::decode(LogType::UrlProtect, &cp.encode()).unwrap();
        // A little ahead: left alone (the overlap covers it).
        assert_eq!(cp.clone().clamp_future(10_000 - FUTURE_SLACK_SECS), None);
        // Now the clock says 9_600: the cursor is brought back, and the next window re-reads
        // from 9_600 − overlap, where a record that arrived late is found. The one delivered
        // before, whose digest was no longer kept (it lay before the old cursor's overlap),
        // comes again as occurrence 1: the same event_id as before.
        assert_eq!(cp.clamp_future(9_600), Some(10_000));
        assert_eq!(cp.cursor(), Some(9_599));
        assert!(cp.open_window(9_600, 0, i64::MIN, 300, item));
        assert_eq!(cp.window().unwrap().from, 9_299);
        assert_eq!(
            cp.accept(&[(1, Some(9_500)), (2, Some(9_650))], None, 0),
            vec![Verdict::Deliver(1), Verdict::Deliver(1)]
        );
    }

    #[test]
    fn an_open_window_reaching_into_the_future_is_opened_again() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        assert!(cp.open_window(10_000, 9_000, i64::MIN, 300, item));
        cp.accept(&[(1, Some(9_100))], None, 0);
        cp.finish_page(Some("t".into()), false, 300);
        assert_eq!(cp.clamp_future(9_500), Some(10_000));
        assert!(cp.window().is_none());
        assert_eq!(cp.cursor(), None);
        assert!(cp.open_window(9_500, 9_000, i64::MIN, 300, item));
        let w = cp.window().unwrap();
        assert_eq!((w.from, w.to, w.token.as_ref()), (9_000, 9_500, None));
        assert_eq!(
            cp.accept(&[(1, Some(9_100)), (3, Some(9_200))], None, 0),
            vec![Verdict::Duplicate, Verdict::Deliver(1)]
        );
    }

    #[test]
    fn a_window_whose_pager_does_not_move_is_restarted_quickly_twice_then_after_a_pause() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        assert!(!cp.may_restart(0), "no window open");
        assert!(cp.open_window(10_000, 9_000, i64::MIN, 300, item));
        for n in 1..=QUICK_RESTARTS {
            assert!(cp.may_restart(5_000));
            assert_eq!(cp.restart_window_at(5_000, item), Some(n));
        }
        assert!(!cp.may_restart(5_000));
        assert!(!cp.may_restart(5_000 + RESTART_PAUSE_SECS - 1));
        // The pause survives the host's store.
        let cp = Checkpoint::decode(LogType::UrlProtect, &cp.encode()).unwrap();
        assert!(!cp.may_restart(5_001));
        assert!(cp.may_restart(5_000 + RESTART_PAUSE_SECS));
    }

    #[test]
    fn a_page_token_beyond_the_bound_is_refused_naming_it() {
        assert!(check_token(LogType::UrlProtect, &"t".repeat(MAX_TOKEN_BYTES)).is_ok());
        let err = check_token(LogType::UrlProtect, &"t".repeat(1 << 20)).unwrap_err();
        assert!(
            matches!(&err, SourceError::Transient(m) if m.contains("1048576 bytes")
                && m.contains("65536 bytes (64 KiB)")),
            "{err}"
        );
    }

    #[test]
    fn a_checkpoint_beyond_the_bound_is_refused_naming_it() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        assert!(cp.open_window(1000, 900, i64::MIN, 300, item));
        assert_eq!(cp.encode_bounded().unwrap(), cp.encode());
        // Enough digests for more than the bound (about 30 bytes each here).
        let records: Vec<(u64, Option<i64>)> = (0..MAX_CHECKPOINT_BYTES as u64 / 20)
            .map(|k| (u64::MAX / 2 + k, Some(950)))
            .collect();
        cp.accept(&records, None, 0);
        let Err(err) = cp.encode_bounded() else {
            panic!("a checkpoint of {} bytes was accepted", cp.encode().len());
        };
        assert!(
            matches!(&err, SourceError::Transient(m) if m.contains("16777216 bytes (16 MiB)")),
            "{err}"
        );
    }

    #[test]
    fn a_stored_oversized_token_is_dropped_and_the_window_read_again() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        assert!(cp.open_window(1000, 900, i64::MIN, 300, item));
        cp.accept(&[(1, Some(950))], None, 0);
        cp.finish_page(Some("short".into()), false, 300);
        assert_eq!(cp.drop_oversized_token(item), None);
        assert_eq!(cp.window().unwrap().token.as_deref(), Some("short"));
        cp.finish_page(Some("t".repeat(MAX_TOKEN_BYTES + 1)), false, 300);
        assert_eq!(cp.drop_oversized_token(item), Some(MAX_TOKEN_BYTES + 1));
        let w = cp.window().unwrap();
        assert_eq!((w.token.as_ref(), w.from, w.restarts), (None, 900, 1));
        // What was served counts as delivered.
        assert_eq!(
            cp.accept(&[(1, Some(950))], None, 0),
            vec![Verdict::Duplicate]
        );
    }

    #[test]
    fn caught_up_when_end_not_after_cursor() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        assert!(cp.open_window(1000, 900, i64::MIN, 300, item));
        assert_eq!(cp.window().unwrap().from, 900);
        cp.finish_page(None, false, 300);
        assert_eq!(cp.cursor(), Some(1000));
        assert!(!cp.open_window(1000, 0, i64::MIN, 300, item));
        assert!(cp.open_window(1001, 0, i64::MIN, 300, item));
        assert_eq!(cp.window().unwrap().from, 700);
    }

    #[test]
    fn long_backlog_is_cut_into_day_windows() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(10 * MAX_WINDOW_SECS, 0, i64::MIN, 300, item);
        assert_eq!(cp.window().unwrap().to, MAX_WINDOW_SECS);
    }

    #[test]
    fn no_window_reaches_back_past_the_retention_edge() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 900, 0, 300, item);
        cp.finish_page(None, false, 300);
        // Resumed long after: the window starts at the edge, not at the stale cursor, and
        // is short there, so it is read before the edge moves on to it; the next is longer.
        let edge = 1000 + 40 * 86_400;
        assert!(cp.open_window(edge + 10 * 86_400, 0, edge, 300, item));
        let w = cp.window().unwrap();
        assert_eq!((w.from, w.to), (edge, edge + EDGE_WINDOW_SECS));
        cp.finish_page(None, false, 300);
        assert!(cp.open_window(edge + 10 * 86_400, 0, edge, 300, item));
        let w = cp.window().unwrap();
        assert_eq!(w.to, edge + 3 * EDGE_WINDOW_SECS);
        // A first poll whose look-back reaches past the edge is clamped the same way.
        let mut fresh = Checkpoint::new(LogType::UrlProtect);
        assert!(fresh.open_window(2000, 100, 500, 300, item));
        assert_eq!(fresh.window().unwrap().from, 500);
        // The overlap alone is clipped, the cursor is still where the window starts.
        let mut near = Checkpoint::new(LogType::UrlProtect);
        near.open_window(1000, 900, 0, 300, item);
        near.finish_page(None, false, 300);
        assert!(near.open_window(1500, 0, 900, 300, item));
        assert_eq!(near.window().unwrap().from, 900);
    }

    #[test]
    fn an_open_window_past_the_retention_edge_is_moved_to_it() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(10_000, 0, i64::MIN, 300, item);
        let first = cp.accept(&[(1, Some(5000)), (2, Some(6000))], Some(4), 0);
        assert_eq!(first, vec![Verdict::Deliver(1); 2]);
        cp.finish_page(Some("2".into()), false, 300);
        assert!(!cp.clear_edge(0, item), "not past the edge");
        assert!(cp.clear_edge(5990, item));
        let w = cp.window().unwrap().clone();
        assert_eq!((w.from, w.to, w.token, w.restarts), (5990, 10_000, None, 0));
        // What was served counts as delivered.
        let again = cp.accept(&[(2, Some(6000)), (3, Some(7000))], Some(2), 0);
        assert_eq!(again, vec![Verdict::Duplicate, Verdict::Deliver(1)]);
        // A window wholly past the edge ends; the next one begins at the edge.
        assert!(cp.clear_edge(20_000, item));
        assert_eq!((cp.window(), cp.cursor()), (None, Some(10_000)));
        assert!(cp.open_window(30_000, 0, 20_000, 300, item));
        assert_eq!(cp.window().unwrap().from, 20_000);
    }

    #[test]
    fn records_before_the_window_are_dropped() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 900, i64::MIN, 300, item);
        cp.accept(&[(1, Some(950))], None, 0);
        cp.finish_page(None, false, 300);
        // The next window starts at 700: a server that ignores `from` serves 500 and 950 again.
        assert!(cp.open_window(2000, 0, i64::MIN, 300, item));
        let verdicts = cp.accept(
            &[(9, Some(500)), (1, Some(950)), (2, Some(1500)), (3, None)],
            None,
            0,
        );
        assert_eq!(
            verdicts,
            vec![
                Verdict::BeforeWindow,
                Verdict::Duplicate,
                Verdict::Deliver(1),
                Verdict::Deliver(1)
            ]
        );
        assert!(
            !cp.window().unwrap().unordered,
            "a dropped record orders nothing"
        );
    }

    #[test]
    fn a_restarted_window_is_at_least_a_second_long() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 900, i64::MIN, 0, item);
        // Records served past the window's end (a server that ignores `to`) with no overlap:
        // everything before the window's end may be forgotten mid-window.
        cp.accept(
            &[(1, Some(950)), (2, Some(1100)), (3, Some(1101))],
            Some(3),
            0,
        );
        cp.finish_page(Some("3".into()), false, 0);
        assert_eq!(cp.window().unwrap().forgotten_below, Some(1000));
        cp.restart_window(item);
        let w = cp.window().unwrap();
        assert_eq!((w.from, w.to), (999, 1000));
    }

    #[test]
    fn a_huge_total_count_jump_saturates() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 900, i64::MIN, 300, item);
        cp.accept(&[(1, Some(950))], Some(1), 2000);
        cp.finish_page(Some("1".into()), false, 300);
        cp.accept(&[(2, Some(951))], Some(1 << 40), 2000);
        assert_eq!(cp.window().unwrap().watch, u32::MAX - 1);
    }

    #[test]
    fn overlap_drops_already_delivered_and_keeps_new_copies() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 900, i64::MIN, 300, item);
        assert_eq!(
            cp.accept(&[(1, Some(950)), (2, Some(990)), (2, Some(990))], None, 0),
            vec![
                Verdict::Deliver(1),
                Verdict::Deliver(1),
                Verdict::Deliver(2)
            ]
        );
        cp.finish_page(None, false, 300);
        cp.open_window(1100, 0, i64::MIN, 300, item);
        // Window re-reads [700, 1100]: record 1 and both copies of 2 again, plus a third copy
        // of 2 that arrived late, and a new record.
        assert_eq!(
            cp.accept(
                &[
                    (1, Some(950)),
                    (2, Some(990)),
                    (2, Some(990)),
                    (2, Some(990)),
                    (3, Some(1050))
                ],
                None,
                0
            ),
            vec![
                Verdict::Duplicate,
                Verdict::Duplicate,
                Verdict::Duplicate,
                Verdict::Deliver(3),
                Verdict::Deliver(1)
            ]
        );
    }

    #[test]
    fn token_lives_inside_its_window() {
        let mut cp = Checkpoint::new(LogType::AttachmentProtect);
        cp.open_window(1000, 0, i64::MIN, 300, item);
        cp.accept(&[(1, Some(10))], None, 0);
        assert!(!cp.finish_page(Some("t1".into()), false, 300));
        let text = cp.encode();
        let back = Checkpoint::decode(LogType::AttachmentProtect, &text).unwrap();
        assert_eq!(back.window().unwrap().token.as_deref(), Some("t1"));
        // An empty page ends the window even when it carries a `next`.
        let mut cp = back;
        assert!(cp.finish_page(Some("t2".into()), true, 300));
        assert!(cp.window().is_none());
        assert!(!cp.encode().contains("t2"));
    }

    #[test]
    fn shifted_page_is_recognised_by_total_count_growth() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 0, i64::MIN, 300, item);
        let first = cp.accept(
            &[(1, Some(900)), (2, Some(901)), (3, Some(902))],
            Some(10),
            600,
        );
        assert!(first.iter().all(|v| matches!(v, Verdict::Deliver(1))));
        cp.finish_page(Some("3".into()), false, 300);
        // One record arrived before the offset: the next page starts with record 3 again.
        let second = cp.accept(&[(3, Some(902)), (4, Some(903))], Some(11), 600);
        assert_eq!(second, vec![Verdict::Duplicate, Verdict::Deliver(1)]);
        cp.finish_page(Some("5".into()), false, 300);
        // Without growth, a repeat at the boundary is a genuine identical record.
        let third = cp.accept(&[(4, Some(903)), (5, Some(904))], Some(11), 600);
        assert_eq!(third, vec![Verdict::Deliver(2), Verdict::Deliver(1)]);
        cp.finish_page(Some("7".into()), false, 300);
        // Growth, but the page position is older than anything that can still arrive: a
        // repeat there is a genuine identical record.
        let fourth = cp.accept(&[(5, Some(904)), (6, Some(905))], Some(12), 950);
        assert_eq!(fourth, vec![Verdict::Deliver(2), Verdict::Deliver(1)]);
    }

    #[test]
    fn a_genuine_twin_taken_for_a_shift_is_delivered_by_the_next_window() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 700, i64::MIN, 300, item);
        // Two identical records (key 7) in second 950, split by the page cut; a late record
        // was inserted *after* the offset between the pages, so totalCount grew by one.
        let first = cp.accept(&[(5, Some(940)), (7, Some(950))], Some(4), 600);
        assert_eq!(first, vec![Verdict::Deliver(1); 2]);
        cp.finish_page(Some("2".into()), false, 300);
        let second = cp.accept(&[(7, Some(950)), (9, Some(960))], Some(5), 600);
        assert_eq!(second, vec![Verdict::Duplicate, Verdict::Deliver(1)]);
        cp.finish_page(None, false, 300);
        // The next window re-reads the overlap, which holds both copies: the second is new.
        assert!(cp.open_window(1060, 0, i64::MIN, 300, item));
        let again = cp.accept(
            &[
                (5, Some(940)),
                (7, Some(950)),
                (7, Some(950)),
                (9, Some(960)),
            ],
            Some(4),
            660,
        );
        assert_eq!(
            again,
            vec![
                Verdict::Duplicate,
                Verdict::Duplicate,
                Verdict::Deliver(2),
                Verdict::Duplicate
            ]
        );
    }

    #[test]
    fn restarted_window_counts_what_was_served_as_delivered() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        assert_eq!(cp.restart_window(item), None, "no window open");
        cp.open_window(1000, 900, i64::MIN, 300, item);
        assert_eq!(
            cp.accept(&[(1, Some(950)), (2, Some(960))], None, 0),
            vec![Verdict::Deliver(1), Verdict::Deliver(1)]
        );
        cp.finish_page(Some("2".into()), false, 300);
        // Served again from the first page: known, not delivered again; a twin that arrived
        // meanwhile is new, and after the second restart it is known too.
        for (n, twin) in [(1, Verdict::Deliver(2)), (2, Verdict::Duplicate)] {
            assert_eq!(cp.restart_window(item), Some(n));
            let w = cp.window().unwrap();
            assert_eq!(
                (w.token.as_deref(), w.item.clone()),
                (None, item(900, 1000))
            );
            assert_eq!(
                cp.accept(&[(1, Some(950)), (2, Some(960)), (2, Some(960))], None, 0),
                vec![Verdict::Duplicate, Verdict::Duplicate, twin]
            );
            cp.finish_page(Some("3".into()), false, 300);
        }
        let back = Checkpoint::decode(LogType::UrlProtect, &cp.encode()).unwrap();
        assert_eq!(back, cp);
    }

    #[test]
    fn a_restart_begins_where_digests_are_known_and_only_for_ordered_pages() {
        // Ordered pages far into a long window: older digests are forgotten, and a restart
        // begins at the oldest time still tracked.
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(10_000, 0, i64::MIN, 300, item);
        cp.accept(&[(1, Some(100)), (2, Some(5000))], None, 0);
        cp.finish_page(Some("2".into()), false, 300);
        assert_eq!(cp.restart_window(item), Some(1));
        assert_eq!(cp.window().unwrap().from, 5000 - PAGE_SLACK_SECS);
        // A newest-first first page drops nothing, so sets no floor: the restart begins at
        // the window's start, not past records it has not read yet.
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(10_000, 0, i64::MIN, 300, item);
        cp.accept(&[(1, Some(9990)), (2, Some(9980))], None, 0);
        cp.finish_page(Some("2".into()), false, 300);
        assert_eq!(cp.restart_window(item), Some(1));
        assert_eq!(cp.window().unwrap().from, 0);
        // Once pages are seen out of order, nothing is forgotten and restarts begin at the start.
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(10_000, 0, i64::MIN, 300, item);
        cp.accept(&[(1, Some(5000)), (2, Some(100))], None, 0);
        cp.finish_page(Some("2".into()), false, 300);
        assert_eq!(cp.tracked(), 2);
        cp.restart_window(item);
        assert_eq!(cp.window().unwrap().from, 0);
    }

    #[test]
    fn a_page_served_again_under_the_same_token_is_recognised() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        cp.open_window(1000, 900, i64::MIN, 300, item);
        assert!(
            !cp.is_repeated_page(&[1, 2], Some("t")),
            "no token sent yet"
        );
        cp.accept(&[(1, Some(950)), (2, Some(960))], None, 0);
        cp.finish_page(Some("t".into()), false, 300);
        assert!(cp.is_repeated_page(&[1, 2], Some("t")));
        assert!(!cp.is_repeated_page(&[1, 2], Some("u")), "the pager moved");
        assert!(
            !cp.is_repeated_page(&[3, 4], Some("t")),
            "new records under one token"
        );
        assert!(!cp.is_repeated_page(&[], Some("t")));
    }

    #[test]
    fn decode_rejects_other_type_version_and_garbage() {
        let text = Checkpoint::new(LogType::UrlProtect).encode();
        assert!(Checkpoint::decode(LogType::UrlProtect, &text).is_ok());
        assert!(Checkpoint::decode(LogType::AttachmentProtect, &text).is_err());
        assert!(
            Checkpoint::decode(LogType::UrlProtect, &text.replace("\"v\":3", "\"v\":9")).is_err()
        );
        assert!(Checkpoint::decode(LogType::UrlProtect, "{").is_err());
    }

    #[test]
    fn dedup_state_is_bounded_by_overlap() {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        let mut now = 100_000;
        cp.open_window(now, now - 86_400, i64::MIN, 300, item);
        let page: Vec<_> = (0..86_400)
            .step_by(10)
            .map(|i| (i as u64, Some(now - 86_400 + i)))
            .collect();
        for chunk in page.chunks(100) {
            cp.accept(chunk, None, 0);
            cp.finish_page(Some("more".into()), false, 300);
            assert!(cp.tracked() <= 100 + 31 + 6, "{}", cp.tracked());
        }
        cp.finish_page(None, false, 300);
        assert!(cp.tracked() <= 31, "{}", cp.tracked());
        now += 60;
        assert!(cp.open_window(now, 0, i64::MIN, 300, item));
    }

    /// A model of Mimecast: records `(key, time, arrival)`; a record is visible to a page
    /// fetched at `arrival` or later. An offset pager recomputes the result on every page (so
    /// arrivals mid-window shift it) and reports `totalCount`. Pages are cut at arbitrary sizes,
    /// and each page of a poll is fetched one second after the previous one. `newest_first`
    /// models a server that ignores `oldestFirst`; the first `refusals` follow-up pages are
    /// refused (their token expired), which restarts the window.
    fn run_model(
        records: &[(u64, i64, i64)],
        polls: &[(i64, usize)],
        overlap: i64,
        lag: i64,
        to_inclusive: bool,
        newest_first: bool,
        refusals: usize,
    ) -> Vec<(u64, u32)> {
        let mut cp = Checkpoint::new(LogType::UrlProtect);
        let mut delivered = Vec::new();
        let mut refused = 0;
        for &(now, page_size) in polls {
            let end = now - lag;
            let mut fetched_at = now;
            let mut guard = 0;
            // Poll until caught up, like the host does.
            while cp.open_window(end, 0, i64::MIN, overlap, item) {
                guard += 1;
                assert!(guard < 10_000);
                let w = cp.window().unwrap().clone();
                if w.token.is_some() && refused < refusals {
                    refused += 1;
                    assert!(cp.restart_window(item).is_some());
                    cp = Checkpoint::decode(LogType::UrlProtect, &cp.encode()).unwrap();
                    fetched_at += 1;
                    continue;
                }
                let mut visible: Vec<_> = records
                    .iter()
                    .filter(|r| {
                        r.2 <= fetched_at
                            && r.1 >= w.from
                            && (r.1 < w.to || (to_inclusive && r.1 == w.to))
                    })
                    .collect();
                // Oldest first; within a second, in order of arrival.
                visible.sort_by_key(|r| (r.1, r.2));
                if newest_first {
                    visible.reverse();
                }
                let offset: usize = w.token.as_deref().map_or(0, |t| t.parse().unwrap());
                let page: Vec<_> = visible.iter().skip(offset).take(page_size).collect();
                let infos: Vec<_> = page.iter().map(|r| (r.0, Some(r.1))).collect();
                let horizon = fetched_at - overlap - lag;
                for (r, v) in
                    page.iter()
                        .zip(cp.accept(&infos, Some(visible.len() as u64), horizon))
                {
                    if let Verdict::Deliver(k) = v {
                        delivered.push((r.0, k));
                    }
                }
                let next = (offset + page.len() < visible.len())
                    .then(|| (offset + page.len()).to_string());
                let round_trip = Checkpoint::decode(LogType::UrlProtect, &cp.encode()).unwrap();
                cp = round_trip;
                cp.finish_page(next, page.is_empty(), overlap);
                fetched_at += 1;
            }
        }
        delivered
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// For random datasets with same-second records, identical records, late arrivals and
        /// arbitrary page cuts: every record visible long enough is delivered exactly once.
        #[test]
        fn delivered_equals_served(
            raw in proptest::collection::vec((0u64..30, 0i64..800, 0i64..300), 0..150),
            steps in proptest::collection::vec((30i64..400, 1usize..8), 1..25),
            to_inclusive in any::<bool>(),
            newest_first in any::<bool>(),
            refusals in 0usize..4,
        ) {
            let overlap = 300;
            let lag = 60;
            // Content decides the key, so identical content shares a key; time belongs to content.
            let records: Vec<(u64, i64, i64)> = raw.iter().map(|&(k, t, late)| (k * 10_000 + t as u64, t, t + late.max(0))).collect();
            let mut now = 0;
            let mut polls = Vec::new();
            for &(step, size) in &steps {
                now += step;
                polls.push((now, size));
            }
            // Finally poll long after everything arrived.
            polls.push((4000 + overlap, 5));
            let delivered = run_model(&records, &polls, overlap, lag, to_inclusive, newest_first, refusals);
            let mut expected: BTreeMap<u64, u32> = BTreeMap::new();
            for r in &records { *expected.entry(r.0).or_default() += 1; }
            let mut got: BTreeMap<u64, u32> = BTreeMap::new();
            let mut seen_pairs = std::collections::HashSet::new();
            for &(k, occ) in &delivered {
                prop_assert!(seen_pairs.insert((k, occ)), "event ({k}, {occ}) delivered twice");
                *got.entry(k).or_default() += 1;
            }
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn decode_never_panics(s in ".{0,200}") {
            let _ = Checkpoint::decode(LogType::UrlProtect, &s);
        }
    }
}
