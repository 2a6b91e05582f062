//! [`Controls`]: what the keys change. Kept apart from the terminal so the key map
//! is tested without one; the caller turns its key events into [`Key`]s.

use crate::Theme;

/// A key the live view reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable key.
    Char(char),
    /// Escape.
    Esc,
    /// Ctrl-C: in raw mode it arrives as a key, not as SIGINT.
    CtrlC,
}

/// What the caller should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// The view changed: draw again now rather than at the next frame.
    Redraw,
    /// Stop the run as Ctrl-C does.
    Stop,
}

/// The seconds one bar of the charts stands for, in the order `+` steps through.
pub const SCALES: [u32; 6] = [1, 2, 5, 10, 30, 60];

/// The live view's state that keys change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// The colours.
    pub theme: Theme,
    /// Index into [`SCALES`].
    pub scale: usize,
    /// Whether the key list is shown.
    pub help: bool,
}

impl Controls {
    /// The view as it opens: `theme`, one second a bar, no help.
    pub fn new(theme: Theme) -> Controls {
        Controls {
            theme,
            scale: 0,
            help: false,
        }
    }

    /// Seconds per bar of the charts.
    pub fn seconds_per_bar(&self) -> u32 {
        SCALES[self.scale.min(SCALES.len() - 1)]
    }

    /// React to a key: `t` next theme, `+` more seconds a bar, `-` fewer, `?` the
    /// key list, `q`, Esc and Ctrl-C stop the run.
    ///
    /// # Example
    /// ```
    /// use kaioken_tui::{Action, Controls, Key, Theme};
    /// let mut c = Controls::new(Theme::Kaioken);
    /// assert_eq!(c.press(Key::Char('t')), Action::Redraw);
    /// assert_eq!(c.theme, Theme::SuperSaiyan);
    /// assert_eq!(c.press(Key::Char('q')), Action::Stop);
    /// ```
    pub fn press(&mut self, key: Key) -> Action {
        let before = *self;
        match key {
            Key::Char('q') | Key::Esc | Key::CtrlC => return Action::Stop,
            Key::Char('t') => self.theme = self.theme.next(),
            Key::Char('+' | '=') => self.scale = (self.scale + 1).min(SCALES.len() - 1),
            Key::Char('-' | '_') => self.scale = self.scale.saturating_sub(1),
            Key::Char('?' | 'h') => self.help = !self.help,
            Key::Char(_) => {}
        }
        if *self == before {
            Action::None
        } else {
            Action::Redraw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let mut c = Controls::new(Theme::Frieza);
        assert_eq!(c.press(Key::Char('t')), Action::Redraw);
        assert_eq!(c.theme, Theme::Kaioken);
        assert_eq!(c.press(Key::Char('-')), Action::None);
        for want in [2, 5, 10, 30, 60, 60] {
            c.press(Key::Char('+'));
            assert_eq!(c.seconds_per_bar(), want);
        }
        assert_eq!(c.press(Key::Char('-')), Action::Redraw);
        assert_eq!(c.seconds_per_bar(), 30);
        assert_eq!(c.press(Key::Char('?')), Action::Redraw);
        assert!(c.help);
        assert_eq!(c.press(Key::Char('x')), Action::None);
        for stop in [Key::Char('q'), Key::Esc, Key::CtrlC] {
            assert_eq!(c.press(stop), Action::Stop);
        }
    }

    #[test]
    fn the_plain_theme_stays_plain() {
        let mut c = Controls::new(Theme::Plain);
        assert_eq!(c.press(Key::Char('t')), Action::None);
        assert_eq!(c.theme, Theme::Plain);
    }
}
