//! The composer: a multi-line text being typed, the cursor in it, and the
//! lines sent before (Up/Down on an empty composer walks them).

/// Text being written.
#[derive(Debug, Default)]
pub struct Composer {
    text: String,
    /// Byte offset of the cursor in `text` (always on a char boundary).
    cursor: usize,
    history: Vec<String>,
    /// Where Up/Down are in `history` (None: the text is new).
    recalled: Option<usize>,
}

impl Composer {
    /// What has been typed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor as (line, column in chars).
    pub fn cursor(&self) -> (usize, usize) {
        let before = &self.text[..self.cursor];
        let line = before.matches('\n').count();
        let column = before.rsplit('\n').next().unwrap_or_default().chars().count();
        (line, column)
    }

    pub fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        self.recalled = None;
    }

    pub fn insert_str(&mut self, s: &str) {
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
        self.recalled = None;
    }

    pub fn backspace(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
            self.text.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
        }
    }

    pub fn right(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.cursor += c.len_utf8();
        }
    }

    pub fn home(&mut self) {
        self.cursor = self.text[..self.cursor].rfind('\n').map_or(0, |at| at + 1);
    }

    pub fn end(&mut self) {
        self.cursor += self.text[self.cursor..].find('\n').unwrap_or(self.text.len() - self.cursor);
    }

    /// Takes the text to send, remembering it for Up.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.recalled = None;
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        text
    }

    /// Replaces the text (a completion, say), cursor at its end.
    pub fn set(&mut self, text: String) {
        self.cursor = text.len();
        self.text = text;
    }

    /// Up: an earlier line sent, while the composer is empty or showing one.
    pub fn older(&mut self) -> bool {
        if !(self.text.is_empty() || self.recalled.is_some()) || self.history.is_empty() {
            return false;
        }
        let at = self.recalled.map_or(self.history.len() - 1, |at| at.saturating_sub(1));
        self.recalled = Some(at);
        self.set(self.history[at].clone());
        self.recalled = Some(at);
        true
    }

    /// Down: a later line, then empty again.
    pub fn newer(&mut self) -> bool {
        let Some(at) = self.recalled else { return false };
        if at + 1 < self.history.len() {
            self.set(self.history[at + 1].clone());
            self.recalled = Some(at + 1);
        } else {
            self.set(String::new());
        }
        true
    }

    /// The word before the cursor, for tab completion: (its start, the word).
    pub fn word_before_cursor(&self) -> (usize, &str) {
        let before = &self.text[..self.cursor];
        let start = before.rfind(char::is_whitespace).map_or(0, |at| at + 1);
        (start, &before[start..])
    }

    /// Replaces the word before the cursor.
    pub fn replace_word(&mut self, start: usize, with: &str) {
        self.text.replace_range(start..self.cursor, with);
        self.cursor = start + with.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_editing_and_history() {
        let mut c = Composer::default();
        for ch in "héllo".chars() {
            c.insert(ch);
        }
        c.left();
        c.backspace();
        assert_eq!(c.text(), "hélo");
        c.insert('\n');
        c.insert_str("wörld");
        assert_eq!(c.cursor(), (1, 5));
        c.home();
        assert_eq!(c.cursor(), (1, 0));
        assert_eq!(c.take(), "hél\nwörldo");
        c.insert_str("second");
        c.take();
        assert!(c.older());
        assert_eq!(c.text(), "second");
        assert!(c.older());
        assert_eq!(c.text(), "hél\nwörldo");
        assert!(c.newer());
        assert_eq!(c.text(), "second");
        assert!(c.newer());
        assert_eq!(c.text(), "");
    }

    #[test]
    fn the_word_before_the_cursor_is_replaced() {
        let mut c = Composer::default();
        c.insert_str("hi @al");
        let (start, word) = c.word_before_cursor();
        assert_eq!(word, "@al");
        c.replace_word(start, "@alice:example.org ");
        assert_eq!(c.text(), "hi @alice:example.org ");
    }
}
