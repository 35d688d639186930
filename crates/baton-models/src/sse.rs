//! Server-sent events: the framing of streamed answers, read incrementally from a response.

use std::collections::VecDeque;

/// One event: its name (`message` when the server gives none) and its data lines joined by `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub(crate) event: String,
    pub(crate) data: String,
}

/// Events read off a streamed response as its bytes arrive.
pub(crate) struct EventStream {
    response: reqwest::Response,
    parser: Parser,
    ready: VecDeque<SseEvent>,
    ended: bool,
}

impl EventStream {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        EventStream { response, parser: Parser::default(), ready: VecDeque::new(), ended: false }
    }

    /// The next event; `None` once the server closed the stream.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>, reqwest::Error> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            match self.response.chunk().await? {
                Some(bytes) => self.ready.extend(self.parser.feed(&bytes)),
                None => {
                    self.ended = true;
                    self.ready.extend(self.parser.finish());
                }
            }
        }
    }
}

/// The SSE line protocol: `field: value` lines, events separated by a blank line.
#[derive(Default)]
struct Parser {
    /// Bytes of a line not yet ended.
    partial: Vec<u8>,
    event: String,
    data: Vec<String>,
}

impl Parser {
    /// The events completed by `bytes`.
    fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                let mut line = std::mem::take(&mut self.partial);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                events.extend(self.line(&String::from_utf8_lossy(&line)));
            } else {
                self.partial.push(byte);
            }
        }
        events
    }

    /// The last event, when the stream ended without a blank line after it.
    fn finish(&mut self) -> Option<SseEvent> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // a comment, such as a keep-alive
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = value.to_string(),
            "data" => self.data.push(value.to_string()),
            _ => {} // id, retry and unknown fields mean nothing to a model stream
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        Some(SseEvent { event: if event.is_empty() { "message".into() } else { event }, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent { event: name.into(), data: data.into() }
    }

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let text =
            "event: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: one\r\ndata: two\r\n\r\ndata: [DONE]";
        let whole = {
            let mut parser = Parser::default();
            let mut events = parser.feed(text.as_bytes());
            events.extend(parser.finish());
            events
        };
        assert_eq!(
            whole,
            vec![event("message_start", "{\"a\":1}"), event("message", "one\ntwo"), event("message", "[DONE]")]
        );
        // Byte by byte gives the same events.
        let mut parser = Parser::default();
        let mut events = Vec::new();
        for byte in text.as_bytes() {
            events.extend(parser.feed(&[*byte]));
        }
        events.extend(parser.finish());
        assert_eq!(events, whole);
    }

    #[test]
    fn multibyte_text_split_mid_character_survives() {
        let text = "data: héllo ✓\n\n".as_bytes();
        let mut parser = Parser::default();
        let mut events = parser.feed(&text[..8]);
        events.extend(parser.feed(&text[8..]));
        assert_eq!(events, vec![event("message", "héllo ✓")]);
    }
}
