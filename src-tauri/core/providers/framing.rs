//! Cutting a provider's byte stream into whole events before anything is decoded.
//!
//! A provider's TCP/TLS chunks fall anywhere: inside a multi-byte character, between the `\r`
//! and the `\n` of a line ending, in the middle of a JSON object. Decoding each chunk on its own
//! turns `Grüße` into `Gr��ße`. So bytes are buffered and split on the frame boundary *in
//! bytes*, and only a whole frame is decoded as UTF-8:
//! - SSE (OpenAI, Anthropic): an event ends at a blank line; a line ends at `\r\n`, `\n` or
//!   `\r` (the WHATWG spec allows all three). Multi-line `data:` fields are joined with `\n`.
//! - NDJSON (Ollama): a frame ends at `\n`.
//!
//! Each frame keeps its original bytes, so a passthrough forwards exactly what upstream sent.

use bytes::{Bytes, BytesMut};

/// The largest frame Keyhold buffers: a provider that never ends an event cannot grow memory
/// without bound. Real events are a few hundred bytes; a whole non-streamed tool call fits.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("the provider sent an event larger than {} MiB without ending it", MAX_FRAME / 1024 / 1024)]
    TooLarge,
}

/// One SSE event: its original bytes (terminator included) and its decoded fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub raw: Bytes,
    /// The `event:` field, if any.
    pub name: Option<String>,
    /// The `data:` fields joined with `\n`; None when the event had no data field.
    pub data: Option<String>,
}

/// Buffers bytes and yields whole SSE events.
#[derive(Debug, Default)]
pub struct SseSplitter {
    buf: BytesMut,
    /// Where the scan for the end of the current event resumes (the start of its last,
    /// unfinished line), so a long event arriving in many chunks is scanned once.
    scan: usize,
}

/// Where the line starting at `from` ends: (end of its content, start of the next line).
/// None when the line is not finished yet, including a `\r` that is the last byte so far (its
/// `\n` may be in the next chunk).
fn line_end(buf: &[u8], from: usize, eof: bool) -> Option<(usize, usize)> {
    let i = from + buf[from..].iter().position(|&b| b == b'\n' || b == b'\r')?;
    match (buf[i], buf.get(i + 1)) {
        (b'\r', Some(b'\n')) => Some((i, i + 2)),
        (b'\r', None) if !eof => None,
        _ => Some((i, i + 1)),
    }
}

impl SseSplitter {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole event, if the buffer holds one. `eof`: the stream has ended, so a final
    /// `\r` ends its line.
    pub fn next_event(&mut self, eof: bool) -> Result<Option<SseEvent>, FramingError> {
        let mut line = self.scan;
        while let Some((content_end, next)) = line_end(&self.buf, line, eof) {
            if content_end == line {
                // A blank line: the event ends here.
                let raw = self.buf.split_to(next).freeze();
                self.scan = 0;
                return Ok(Some(decode_event(raw, content_end)));
            }
            line = next;
        }
        self.scan = line;
        if self.buf.len() > MAX_FRAME {
            return Err(FramingError::TooLarge);
        }
        Ok(None)
    }

    /// Bytes received that do not (yet) form a whole event.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Decodes the fields of one event (`body_end`: where its last line's content ends).
fn decode_event(raw: Bytes, body_end: usize) -> SseEvent {
    let text = String::from_utf8_lossy(&raw[..body_end]);
    let mut name = None;
    let mut data: Option<String> = None;
    let mut rest = text.as_ref();
    while !rest.is_empty() {
        let cut = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let line = &rest[..cut];
        rest = &rest[cut..];
        rest = rest
            .strip_prefix("\r\n")
            .or_else(|| rest.strip_prefix('\n'))
            .or_else(|| rest.strip_prefix('\r'))
            .unwrap_or(rest);
        if line.starts_with(':') {
            continue; // a comment
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => name = Some(value.to_string()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            _ => {}
        }
    }
    SseEvent { raw, name, data }
}

/// Buffers bytes and yields whole lines of an NDJSON stream (original bytes, `\n` included).
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: BytesMut,
    scan: usize,
}

impl LineSplitter {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole line; at `eof`, whatever is left (a last line without its `\n`).
    pub fn next_line(&mut self, eof: bool) -> Result<Option<Bytes>, FramingError> {
        if let Some(i) = self.buf[self.scan..].iter().position(|&b| b == b'\n') {
            let line = self.buf.split_to(self.scan + i + 1).freeze();
            self.scan = 0;
            return Ok(Some(line));
        }
        self.scan = self.buf.len();
        if eof && !self.buf.is_empty() {
            self.scan = 0;
            return Ok(Some(self.buf.split().freeze()));
        }
        if self.buf.len() > MAX_FRAME {
            return Err(FramingError::TooLarge);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event's name, data and original bytes.
    type Seen = (Option<String>, Option<String>, Vec<u8>);

    /// Feeds `input` cut at every possible pair of places and collects the events' data.
    fn all_splits(input: &[u8]) -> Vec<Vec<Seen>> {
        let mut results = Vec::new();
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let mut s = SseSplitter::default();
                let mut got = Vec::new();
                for part in [&input[..a], &input[a..b], &input[b..]] {
                    s.push(part);
                    while let Some(e) = s.next_event(false).unwrap() {
                        got.push((e.name, e.data, e.raw.to_vec()));
                    }
                }
                while let Some(e) = s.next_event(true).unwrap() {
                    got.push((e.name, e.data, e.raw.to_vec()));
                }
                results.push(got);
            }
        }
        results
    }

    #[test]
    fn non_ascii_events_survive_any_chunking() {
        let input =
            "data: {\"t\":\"Grüße aus 東京 🦊 café\"}\n\nevent: x\r\ndata: zwei\r\n\r\ndata: drei\r\rdata: [DONE]\n\n";
        for got in all_splits(input.as_bytes()) {
            let data: Vec<_> = got.iter().map(|g| g.1.clone().unwrap()).collect();
            assert_eq!(data, ["{\"t\":\"Grüße aus 東京 🦊 café\"}", "zwei", "drei", "[DONE]"]);
            assert_eq!(got[1].0.as_deref(), Some("x"));
            // The original bytes, terminators included, add up to the input.
            assert_eq!(got.iter().flat_map(|g| g.2.clone()).collect::<Vec<u8>>(), input.as_bytes());
        }
    }

    #[test]
    fn a_cr_at_the_end_of_a_chunk_waits_for_its_lf() {
        let mut s = SseSplitter::default();
        s.push(b"data: a\r\n\r");
        assert_eq!(s.next_event(false).unwrap(), None, "the \\r may be the start of \\r\\n");
        s.push(b"\ndata: b\n\n");
        assert_eq!(s.next_event(false).unwrap().unwrap().raw.as_ref(), b"data: a\r\n\r\n");
        assert_eq!(s.next_event(false).unwrap().unwrap().data.as_deref(), Some("b"));
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines_and_comments_are_skipped() {
        let mut s = SseSplitter::default();
        s.push(b": keep-alive\ndata: first\ndata:second\nid: 7\n\n");
        let e = s.next_event(false).unwrap().unwrap();
        assert_eq!(e.data.as_deref(), Some("first\nsecond"));
        s.push(b": only a comment\n\n");
        assert_eq!(s.next_event(false).unwrap().unwrap().data, None);
    }

    #[test]
    fn an_endless_event_is_refused_not_buffered_forever() {
        let mut s = SseSplitter::default();
        let chunk = vec![b'a'; 1024 * 1024];
        let mut err = None;
        for _ in 0..20 {
            s.push(&chunk);
            if let Err(e) = s.next_event(false) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(FramingError::TooLarge));
    }

    #[test]
    fn ndjson_lines_are_cut_in_bytes() {
        let input = "{\"t\":\"東京\"}\n{\"t\":\"🦊\"}\n{\"done\":true}";
        for a in 0..=input.len() {
            let mut s = LineSplitter::default();
            let mut lines = Vec::new();
            for part in [&input.as_bytes()[..a], &input.as_bytes()[a..]] {
                s.push(part);
                while let Some(l) = s.next_line(false).unwrap() {
                    lines.push(String::from_utf8(l.to_vec()).unwrap());
                }
            }
            while let Some(l) = s.next_line(true).unwrap() {
                lines.push(String::from_utf8(l.to_vec()).unwrap());
            }
            assert_eq!(lines, ["{\"t\":\"東京\"}\n", "{\"t\":\"🦊\"}\n", "{\"done\":true}"]);
        }
    }
}
