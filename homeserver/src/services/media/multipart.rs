//! Reading another server's media answer (`multipart/mixed`: a JSON
//! metadata part, then the file — or a `Location` to fetch it from) as it
//! arrives, so that the file goes to storage chunk by chunk.

use crate::error::{Error, Result};

/// The most bytes read before the file's own bytes start (the metadata
/// part and the file part's headers are small).
const MAX_PREAMBLE: usize = 64 * 1024;

/// Where a parser stands in the answer.
pub(super) struct MediaParts {
    /// `\r\n--boundary`, which ends every part.
    delimiter: Vec<u8>,
    buffered: Vec<u8>,
    in_file: bool,
    done: bool,
}

/// The file part's headers.
#[derive(Debug, Default, PartialEq)]
pub(super) struct FileHeaders {
    pub content_type: Option<String>,
    /// Set when the server answered with a redirect instead of the file.
    pub location: Option<String>,
}

/// The `boundary` parameter of a `multipart/mixed` content type.
pub(super) fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn bad(what: &str) -> Error {
    Error::Upstream(format!("malformed media answer: {what}"))
}

impl MediaParts {
    pub fn new(boundary: &str) -> Self {
        // The first boundary may open the body without a line break before it.
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        Self { buffered: b"\r\n".to_vec(), delimiter, in_file: false, done: false }
    }

    /// Takes the next chunk of the answer: the file part's headers, once
    /// they are complete (returned once), and the file's bytes that are
    /// known by now (what could be the start of the closing delimiter is
    /// held back).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(Option<FileHeaders>, Vec<u8>)> {
        let mut file = Vec::new();
        if self.done {
            return Ok((None, file));
        }
        self.buffered.extend_from_slice(chunk);
        let mut headers = None;
        if !self.in_file {
            if self.buffered.len() > MAX_PREAMBLE {
                return Err(bad("metadata too large"));
            }
            headers = self.file_headers()?;
            if headers.is_none() {
                return Ok((None, file));
            }
            self.in_file = true;
        }
        self.pass_file_bytes(&mut |bytes| file.extend_from_slice(bytes));
        Ok((headers, file))
    }

    /// Whether the file's closing delimiter was seen.
    pub fn finished(&self) -> bool {
        self.done
    }

    /// Once the metadata part and the file part's headers are buffered:
    /// the headers, with the buffer left holding only file bytes.
    fn file_headers(&mut self) -> Result<Option<FileHeaders>> {
        let delimiter = self.delimiter.clone();
        // Delimiters of the metadata part and of the file part.
        let Some(first) = find(&self.buffered, &delimiter) else { return Ok(None) };
        let after_first = first + delimiter.len();
        let Some(second) = find(&self.buffered[after_first..], &delimiter) else {
            return Ok(None);
        };
        let file_part = after_first + second + delimiter.len();
        let Some(headers_len) = find(&self.buffered[file_part..], b"\r\n\r\n") else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&self.buffered[file_part..file_part + headers_len])
            .map_err(|_| bad("headers are not text"))?;
        let mut headers = FileHeaders::default();
        for line in text.split("\r\n").filter(|line| !line.is_empty()) {
            let Some((name, value)) = line.split_once(':') else { return Err(bad("header line")) };
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => headers.content_type = Some(value.trim().to_owned()),
                "location" => headers.location = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        self.buffered.drain(..file_part + headers_len + 4);
        Ok(Some(headers))
    }

    fn pass_file_bytes(&mut self, write: &mut impl FnMut(&[u8])) {
        if let Some(end) = find(&self.buffered, &self.delimiter) {
            write(&self.buffered[..end]);
            self.buffered.clear();
            self.done = true;
            return;
        }
        // Anything but the last few bytes cannot be part of the delimiter.
        let keep = self.delimiter.len() - 1;
        if self.buffered.len() > keep {
            let ready = self.buffered.len() - keep;
            write(&self.buffered[..ready]);
            self.buffered.drain(..ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(boundary: &str, headers: &str, file: &[u8]) -> Vec<u8> {
        let mut body = format!(
            "--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--{boundary}\r\n{headers}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    }

    /// Every split of the answer into two chunks yields the same file.
    #[test]
    fn the_file_comes_out_whole_however_it_is_cut() {
        let file: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).chain(*b"\r\n--not").collect();
        let body = answer("b0undary", "Content-Type: image/png", &file);
        for cut in 0..body.len() {
            let mut parts = MediaParts::new("b0undary");
            let mut out = Vec::new();
            let mut headers = None;
            for chunk in [&body[..cut], &body[cut..]] {
                let (found, bytes) = parts.feed(chunk).expect("well formed");
                headers = headers.or(found);
                out.extend_from_slice(&bytes);
            }
            assert!(parts.finished(), "cut at {cut}");
            assert_eq!(out, file, "cut at {cut}");
            assert_eq!(headers.expect("headers").content_type.as_deref(), Some("image/png"));
        }
    }

    #[test]
    fn a_redirect_and_bad_answers_are_told() {
        let body = answer("b", "Location: https://elsewhere.example/file", b"");
        let mut parts = MediaParts::new("b");
        let headers = parts.feed(&body).expect("well formed").0.expect("headers");
        assert_eq!(headers.location.as_deref(), Some("https://elsewhere.example/file"));

        // An answer cut short never finishes (the fetch then fails and
        // keeps nothing).
        let full = answer("b", "Content-Type: text/plain", b"most of a file");
        let mut cut = MediaParts::new("b");
        cut.feed(&full[..full.len() - 6]).expect("well formed so far");
        assert!(!cut.finished());

        let mut endless = MediaParts::new("b");
        assert!(endless.feed(&vec![b'x'; MAX_PREAMBLE + 1]).is_err());
        assert_eq!(boundary("multipart/mixed; boundary=\"abc\""), Some("abc".to_owned()));
        assert_eq!(boundary("application/json"), None);
    }
}
