//! A GeoJSON FeatureCollection read from a stream, its `features` array
//! cut into batches of its elements' text for the parsing threads.
//!
//! Reading a big layer file whole before parsing it leaves the cores idle
//! while it reads (from disk, once the page cache has been reclaimed) and
//! touches as many fresh pages as the file has bytes, which on a VM whose
//! idle memory the host took back costs more than the read. Here the file
//! goes through one reused buffer while earlier batches already parse.
//!
//! Finding where an element ends only counts braces outside strings
//! (`memchr`), and it trusts nothing: the workers parse each element's
//! text whole with serde_json, and every other member of the top-level
//! object is parsed here, so what passes is exactly valid JSON. Anything
//! else stops the split (`None`); the caller then parses the file on one
//! thread, which words the problem.
//!
//! Must not: know about features or layers.

use std::hash::Hasher;
use std::io::Read;

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// A batch is sent once it holds this many features, or this many bytes
/// of their text (a few big polygons).
pub(super) const BATCH_FEATURES: usize = 2048;
const BATCH_BYTES: usize = 4 << 20;

/// Consecutive elements of the `features` array.
#[derive(Debug, Default)]
pub struct Batch {
    /// The index of the first.
    pub first: usize,
    text: Vec<u8>,
    /// Where each element's text ends in `text`.
    ends: Vec<usize>,
}

impl Batch {
    fn new(first: usize) -> Self {
        Batch {
            first,
            text: Vec::with_capacity(BATCH_BYTES / 4),
            ends: Vec::with_capacity(BATCH_FEATURES),
        }
    }

    /// Each element's text, in order.
    pub fn elements(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.text[a..b])
    }
}

/// Read a FeatureCollection from `input`, handing its features to `send`
/// in batches (in order) and every byte read to `hasher`. Its `"type"`,
/// or None when the input is not plainly a valid FeatureCollection (or
/// cannot be read).
pub fn split(
    input: impl Read,
    hasher: &mut impl Hasher,
    mut send: impl FnMut(Batch),
) -> Option<Option<String>> {
    let mut r = Reader {
        input,
        hasher,
        buf: vec![0; CHUNK].into_boxed_slice(),
        pos: 0,
        len: 0,
    };
    r.collection(&mut send).ok()
}

/// Why a split stopped: the caller does not need to know (the serial
/// parse words it).
struct Stop;

type Step<T> = Result<T, Stop>;

struct Reader<'h, R, H> {
    input: R,
    hasher: &'h mut H,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

fn whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: Read, H: Hasher> Reader<'_, R, H> {
    /// Make sure a byte is buffered; false at the end of the input.
    fn more(&mut self) -> Step<bool> {
        while self.pos == self.len {
            match self.input.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.hasher.write(&self.buf[..n]);
                    (self.pos, self.len) = (0, n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Stop),
            }
        }
        Ok(true)
    }

    /// The next byte that is not whitespace, left unread.
    fn peek(&mut self) -> Step<Option<u8>> {
        while self.more()? {
            let b = self.buf[self.pos];
            if !whitespace(b) {
                return Ok(Some(b));
            }
            self.pos += 1;
        }
        Ok(None)
    }

    /// The next byte that is not whitespace, read.
    fn next(&mut self) -> Step<Option<u8>> {
        let b = self.peek()?;
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Step<()> {
        match self.next()? {
            Some(b) if b == want => Ok(()),
            _ => Err(Stop),
        }
    }

    /// `{ "type": ..., "features": [...], ... }` and nothing after it.
    fn collection(&mut self, send: &mut impl FnMut(Batch)) -> Step<Option<String>> {
        self.expect(b'{')?;
        let (mut kind, mut features) = (None, false);
        let mut scratch = Vec::new();
        if self.peek()? == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                scratch.clear();
                self.value_into(&mut scratch)?;
                let key: String = serde_json::from_slice(&scratch).map_err(|_| Stop)?;
                self.expect(b':')?;
                scratch.clear();
                match key.as_str() {
                    // Twice: let the serial parse decide what that means.
                    "features" if features => return Err(Stop),
                    "features" => {
                        self.features(send)?;
                        features = true;
                    }
                    "type" => {
                        self.value_into(&mut scratch)?;
                        kind = Some(serde_json::from_slice(&scratch).map_err(|_| Stop)?);
                    }
                    _ => {
                        self.value_into(&mut scratch)?;
                        serde_json::from_slice::<serde::de::IgnoredAny>(&scratch)
                            .map_err(|_| Stop)?;
                    }
                }
                match self.next()? {
                    Some(b',') => {}
                    Some(b'}') => break,
                    _ => return Err(Stop),
                }
            }
        }
        if !features || self.peek()?.is_some() {
            return Err(Stop);
        }
        Ok(kind)
    }

    /// `[ {...}, {...} ]`, each object's text into a batch.
    fn features(&mut self, send: &mut impl FnMut(Batch)) -> Step<()> {
        self.expect(b'[')?;
        let mut batch = Batch::new(0);
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek()? != Some(b'{') {
                return Err(Stop);
            }
            self.enclosed_into(b'{', b'}', &mut batch.text)?;
            batch.ends.push(batch.text.len());
            if batch.ends.len() == BATCH_FEATURES || batch.text.len() >= BATCH_BYTES {
                let next = Batch::new(batch.first + batch.ends.len());
                send(std::mem::replace(&mut batch, next));
            }
            match self.next()? {
                Some(b',') => {}
                Some(b']') => break,
                _ => return Err(Stop),
            }
        }
        if !batch.ends.is_empty() {
            send(batch);
        }
        Ok(())
    }

    /// One JSON value's text (not checked: the caller parses it).
    fn value_into(&mut self, out: &mut Vec<u8>) -> Step<()> {
        match self.peek()?.ok_or(Stop)? {
            b'{' => self.enclosed_into(b'{', b'}', out),
            b'[' => self.enclosed_into(b'[', b']', out),
            b'"' => self.string_into(out),
            _ => self.scalar_into(out),
        }
    }

    /// From `open` to its matching `close`, counting only those two
    /// outside strings: in valid JSON each pair balances on its own.
    fn enclosed_into(&mut self, open: u8, close: u8, out: &mut Vec<u8>) -> Step<()> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            if !self.more()? {
                return Err(Stop);
            }
            let chunk = &self.buf[self.pos..self.len];
            let (mut i, mut done) = (0, false);
            while i < chunk.len() && !done {
                if in_string {
                    let closed;
                    (i, closed) = string_part(chunk, i, &mut escaped);
                    in_string = !closed;
                } else {
                    match memchr::memchr3(b'"', open, close, &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(k) => {
                            i += k;
                            let b = chunk[i];
                            i += 1;
                            if b == b'"' {
                                in_string = true;
                            } else if b == open {
                                depth += 1;
                            } else {
                                // The first byte is `open`, so never below 0.
                                depth -= 1;
                                done = depth == 0;
                            }
                        }
                    }
                }
            }
            out.extend_from_slice(&chunk[..i]);
            self.pos += i;
            if done {
                return Ok(());
            }
        }
    }

    /// A string, quotes included.
    fn string_into(&mut self, out: &mut Vec<u8>) -> Step<()> {
        out.push(b'"');
        self.pos += 1;
        let mut escaped = false;
        loop {
            if !self.more()? {
                return Err(Stop);
            }
            let chunk = &self.buf[self.pos..self.len];
            let (i, done) = string_part(chunk, 0, &mut escaped);
            out.extend_from_slice(&chunk[..i]);
            self.pos += i;
            if done {
                return Ok(());
            }
        }
    }

    /// A number, `true`, `false` or `null`: up to the next separator.
    fn scalar_into(&mut self, out: &mut Vec<u8>) -> Step<()> {
        while self.more()? {
            let b = self.buf[self.pos];
            if whitespace(b) || matches!(b, b',' | b'}' | b']' | b':') {
                break;
            }
            out.push(b);
            self.pos += 1;
        }
        Ok(())
    }
}

/// Inside a string, from `chunk[i]`: where its text in `chunk` ends, and
/// whether that is its closing quote (read). `escaped` carries a
/// backslash that ended the previous chunk.
fn string_part(chunk: &[u8], mut i: usize, escaped: &mut bool) -> (usize, bool) {
    while i < chunk.len() {
        if *escaped {
            *escaped = false;
            i += 1;
            continue;
        }
        match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
            None => return (chunk.len(), false),
            Some(k) => {
                i += k + 1;
                if chunk[i - 1] == b'"' {
                    return (i, true);
                }
                *escaped = true;
            }
        }
    }
    (i, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a call, so elements,
    /// strings and escapes straddle every read boundary.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The elements split out, each with its index.
    type Elements = Vec<(usize, String)>;

    fn run(text: &str, step: usize) -> Option<(Option<String>, Elements)> {
        let mut got = Vec::new();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let kind = split(Trickle(text.as_bytes(), step), &mut h, |b| {
            for (i, e) in (b.first..).zip(b.elements()) {
                got.push((i, String::from_utf8(e.to_vec()).unwrap()));
            }
        })?;
        Some((kind, got))
    }

    #[test]
    fn elements_come_out_whole_whatever_the_read_boundaries() {
        // Braces, brackets, quotes and backslashes inside strings; a
        // member before and after the array; an escaped key.
        let a = r#"{"type":"Feature","id":"a}{","properties":{"n":"x\"}\\","m":[{"k":1}]},"geometry":null}"#;
        let b = r#"{"type":"Feature","id":7,"properties":{"s":"\\\\\"{{"},"geometry":{"type":"Point","coordinates":[1,2]}}"#;
        let text = format!(
            "\n{{ \"name\" : \"x,}}\" , \"bbox\": [1, 2.5e3, -3, 4], \"typ\\u0065\":\"FeatureCollection\",\n \"features\" : [ {a} ,\n{b}\n] , \"n\": null, \"t\": true }}\n"
        );
        for step in [1, 2, 3, 5, 7, 64, CHUNK] {
            let (kind, got) = run(&text, step).unwrap_or_else(|| panic!("step {step}"));
            assert_eq!(kind.as_deref(), Some("FeatureCollection"), "step {step}");
            assert_eq!(
                got,
                vec![(0, a.to_owned()), (1, b.to_owned())],
                "step {step}"
            );
        }
    }

    #[test]
    fn batches_are_in_order_and_hash_every_byte() {
        let features: Vec<String> = (0..5000)
            .map(|i| format!(r#"{{"type":"Feature","id":{i},"geometry":null}}"#))
            .collect();
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        );
        let (_, got) = run(&text, 4096).unwrap();
        let want: Vec<(usize, String)> = features.into_iter().enumerate().collect();
        assert_eq!(got, want);
        // The same hash as hashing the whole text at once.
        let mut whole = std::collections::hash_map::DefaultHasher::new();
        whole.write(text.as_bytes());
        let mut streamed = std::collections::hash_map::DefaultHasher::new();
        split(Trickle(text.as_bytes(), 333), &mut streamed, |_| {}).unwrap();
        assert_eq!(streamed.finish(), whole.finish());
    }

    #[test]
    fn anything_but_a_plain_valid_collection_stops_the_split() {
        for bad in [
            "",
            "[]",
            r#"{"type":"FeatureCollection"}"#,
            r#"{"type":"FeatureCollection","features":[]} x"#,
            r#"{"type":"FeatureCollection","features":[{"a":1}"#,
            r#"{"type":"FeatureCollection","features":[{"a":1} {"b":2}]}"#,
            r#"{"type":"FeatureCollection","features":[1]}"#,
            r#"{"type":"FeatureCollection","features":[],"features":[]}"#,
            r#"{"type":"FeatureCollection","bbox":[1,,2],"features":[]}"#,
            r#"{"type":"FeatureCollection","n":nul,"features":[]}"#,
            r#"{"type":5,"features":[]}"#,
            r#"{"type":"FeatureCollection","features":[]"#,
            r#"{"type":"FeatureCollection""features":[]}"#,
        ] {
            assert!(run(bad, 3).is_none(), "{bad}");
        }
        let (kind, got) = run(r#" { "features" : [ ] } "#, 2).unwrap();
        assert_eq!((kind, got.len()), (None, 0));
    }
}
