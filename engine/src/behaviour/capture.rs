//! The behaviour recorder, in JavaScript: what a page's visitor does with
//! the mouse, keys, wheel and focus, and each page's Web Vitals.
//!
//! - [`RECORDER`] is what the browser engine injects into every page of a
//!   browser session; it collects the recording at the visit's end.
//! - [`SITE_SCRIPT`] is the same recorder with a sender, which any site can
//!   embed (`<script src="…/behaviour/capture.js">`, served by the
//!   coordinator): it opens a bot-detection session and appends to it every
//!   few seconds, so real visitors' behaviour reaches the service.

pub const RECORDER: &str = include_str!("capture.js");

pub const SITE_SCRIPT: &str = concat!(
    include_str!("capture.js"),
    "\n",
    include_str!("capture_sender.js")
);
