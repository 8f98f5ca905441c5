//! A task's per-call label, beside its static name: which call of the fn it is.

use std::fmt::{self, Write};

/// The most bytes a label's text keeps; a longer one keeps up to 11 and ends with `…` (3
/// bytes), cut at a character.
/// With the length and the kind, a label is two words, what a slot can carry for nothing.
const INLINE: usize = 14;

/// Which call of a task fn a task is: an id, or a short key, shown beside the task's name in
/// errors (``critical task `profile[17]` failed``), reports, `Server-Timing` and spans.
///
/// `Copy`, two words, and without allocation: a number, or up to 14 bytes of text copied in
/// (a longer text is cut, at a character boundary, and ends with `…`).
///
/// ```
/// use runner_core::{Label, Task};
///
/// let task = Task::critical("profile", async { Ok::<u32, std::io::Error>(1) }).label(17);
/// assert_eq!(task.task_label(), Some(Label::from(17)));
/// assert_eq!(Label::from("eu-west").to_string(), "eu-west");
/// let host = String::from("wallet-7.internal");
/// assert_eq!(Label::from(&host).to_string(), "wallet-7.in…");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(Repr);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Repr {
    Number(u64),
    Signed(i64),
    Inline { len: u8, bytes: [u8; INLINE] },
}

impl Label {
    /// A label of any text, copied in (cut past 14 bytes).
    pub fn text(text: &str) -> Self {
        let mut bytes = [0; INLINE];
        let len = match text.len() <= INLINE {
            true => text.len(),
            // Room for the `…` (3 bytes), at a character boundary.
            false => (0..=INLINE - 3)
                .rev()
                .find(|&end| text.is_char_boundary(end))
                .unwrap_or(0),
        };
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        let len = match len < text.len() {
            true => {
                bytes[len..len + 3].copy_from_slice("…".as_bytes());
                len + 3
            }
            false => len,
        };
        Self(Repr::Inline {
            len: len as u8,
            bytes,
        })
    }

    /// A label of any value's `Display`, copied in (cut past 14 bytes).
    pub fn display(value: impl fmt::Display) -> Self {
        let mut buffer = Buffer::default();
        // A `Display` that fails leaves what it wrote.
        let _ = write!(buffer, "{value}");
        Self::text(buffer.as_str())
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Number(n) => fmt::Display::fmt(n, f),
            Repr::Signed(n) => fmt::Display::fmt(n, f),
            Repr::Inline { len, bytes } => {
                // Only ever filled from a `&str`, cut at a character boundary.
                f.pad(std::str::from_utf8(&bytes[..*len as usize]).unwrap_or("?"))
            }
        }
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Inline { .. } => write!(f, "Label({:?})", self.to_string()),
            _ => write!(f, "Label({self})"),
        }
    }
}

macro_rules! from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Label {
            fn from(n: $t) -> Self {
                Self(Repr::Number(n as u64))
            }
        }
    )*};
}

from_unsigned!(u8, u16, u32, u64, usize);

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Label {
            // A non-negative id is the same label whatever its type: `17` is `17u64`.
            fn from(n: $t) -> Self {
                match u64::try_from(n) {
                    Ok(n) => Self(Repr::Number(n)),
                    Err(_) => Self(Repr::Signed(n as i64)),
                }
            }
        }
    )*};
}

from_signed!(i8, i16, i32, i64, isize);

impl From<&str> for Label {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

impl From<&String> for Label {
    fn from(text: &String) -> Self {
        Self::text(text)
    }
}

impl From<String> for Label {
    fn from(text: String) -> Self {
        Self::text(&text)
    }
}

/// A task's name with its label, as errors show it: `profile[17]`.
pub(crate) struct Labelled(pub(crate) &'static str, pub(crate) Option<Label>);

impl fmt::Display for Labelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        match &self.1 {
            Some(label) => write!(f, "[{label}]"),
            None => Ok(()),
        }
    }
}

/// Room for a label's text, and a little more to cut it from.
struct Buffer {
    bytes: [u8; INLINE + 4],
    len: usize,
}

impl Default for Buffer {
    fn default() -> Self {
        Self {
            bytes: [0; INLINE + 4],
            len: 0,
        }
    }
}

impl Buffer {
    fn as_str(&self) -> &str {
        // Filled from `&str`s, each whole or cut at a character boundary.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl Write for Buffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = self.bytes.len() - self.len;
        let take = match text.len() <= room {
            true => text.len(),
            false => (0..=room)
                .rev()
                .find(|&end| text.is_char_boundary(end))
                .unwrap_or(0),
        };
        self.bytes[self.len..self.len + take].copy_from_slice(&text.as_bytes()[..take]);
        self.len += take;
        match take < text.len() {
            // Stop the formatting: the rest is cut anyway.
            true => Err(fmt::Error),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Label;

    #[test]
    fn labels_show_what_they_were_made_of() {
        assert_eq!(Label::from(17u64).to_string(), "17");
        assert_eq!(Label::from(-3).to_string(), "-3");
        assert_eq!(Label::from("tenant-a").to_string(), "tenant-a");
        assert_eq!(Label::from(String::from("é")).to_string(), "é");
        assert_eq!(
            Label::display(format_args!("{}:{}", "h", 8)).to_string(),
            "h:8"
        );
        assert_eq!(Label::from(17), Label::from(17u64));
        assert_ne!(Label::from(17), Label::from("17"));
        assert_eq!(
            format!("{:?} {:?}", Label::from(3), Label::from("3")),
            r#"Label(3) Label("3")"#
        );
        assert_eq!(format!("[{:>4}]", Label::from("ab")), "[  ab]");
    }

    #[test]
    fn a_long_label_is_cut_at_a_character_and_ends_with_an_ellipsis() {
        let cut = Label::text("a-very-long-tenant-name-indeed");
        assert_eq!(cut.to_string(), "a-very-long…");
        assert!(cut.to_string().len() <= 14);
        assert_eq!(Label::text("exactly-14-byt").to_string(), "exactly-14-byt");
        assert_eq!(std::mem::size_of::<Option<Label>>(), 16);
        // 'é' is two bytes: the cut falls before one rather than inside it.
        let accents = Label::text("éééééééééééééééééééé");
        assert_eq!(accents.to_string(), "ééééé…");
        let long_display = Label::display(format_args!("{}", "x".repeat(100)));
        assert_eq!(long_display.to_string(), format!("{}…", "x".repeat(11)));
        assert_eq!(Label::text("").to_string(), "");
    }
}
