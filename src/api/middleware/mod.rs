//! The middleware every request passes, outermost first in `router`:
//! `observe` (metrics, logs), security headers, `limits` (Host, URI length,
//! the body read within its limit and deadline), `private` (tokens for
//! reads with `--private`), `pin` (the snapshot a request answers from),
//! `etag` (weak ETags and 304s).
//!
//! Must not: answer for a resource (handlers do).

pub mod etag;
pub mod headers;
pub mod limits;
pub mod observe;
pub mod pin;
pub mod private;
