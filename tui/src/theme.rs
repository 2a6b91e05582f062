//! [`Theme`]: the live view's colours. Six aura colours to cycle with `t`, and a
//! plain one for `--serious` and `NO_COLOR`.

use ratatui::style::{Color, Modifier, Style};

/// A colour scheme of the live view, named after a transformation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// Kaioken red: the default.
    Kaioken,
    /// Super Saiyan gold.
    SuperSaiyan,
    /// Super Saiyan Blue.
    SuperSaiyanBlue,
    /// Ultra Instinct silver.
    UltraInstinct,
    /// Namek green.
    Namek,
    /// Frieza purple.
    Frieza,
    /// No colour at all: `--serious`, `NO_COLOR`, and the golden tests of layout.
    Plain,
}

/// What each part of the view is drawn with. Every theme fills all of it, so
/// panels name a role and never a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// Borders and panel titles.
    pub border: Style,
    /// The headline numbers: the power level, the progress gauge, the bars.
    pub accent: Style,
    /// Secondary text: labels, units, the help line.
    pub dim: Style,
    /// Good news: 2xx, passing checks and thresholds.
    pub good: Style,
    /// Bad news: errors, 5xx, failing checks and thresholds, dropped iterations.
    pub bad: Style,
    /// Neither: 3xx and 4xx, warm-up.
    pub warn: Style,
}

impl Theme {
    /// The six coloured themes, in the order `t` cycles through them.
    pub const CYCLE: [Theme; 6] = [
        Theme::Kaioken,
        Theme::SuperSaiyan,
        Theme::SuperSaiyanBlue,
        Theme::UltraInstinct,
        Theme::Namek,
        Theme::Frieza,
    ];

    /// The name shown in the view's title bar.
    pub fn name(self) -> &'static str {
        match self {
            Theme::Kaioken => "Kaioken red",
            Theme::SuperSaiyan => "Super Saiyan gold",
            Theme::SuperSaiyanBlue => "Super Saiyan Blue",
            Theme::UltraInstinct => "Ultra Instinct silver",
            Theme::Namek => "Namek green",
            Theme::Frieza => "Frieza purple",
            Theme::Plain => "plain",
        }
    }

    /// The name `--theme` takes: `kaioken`, `super-saiyan`, `super-saiyan-blue`,
    /// `ultra-instinct`, `namek`, `frieza` or `plain`.
    pub fn key(self) -> &'static str {
        match self {
            Theme::Kaioken => "kaioken",
            Theme::SuperSaiyan => "super-saiyan",
            Theme::SuperSaiyanBlue => "super-saiyan-blue",
            Theme::UltraInstinct => "ultra-instinct",
            Theme::Namek => "namek",
            Theme::Frieza => "frieza",
            Theme::Plain => "plain",
        }
    }

    /// The theme `--theme` names (its [`key`](Theme::key), any case, `_` for `-`).
    ///
    /// # Example
    /// ```
    /// use kaioken_tui::Theme;
    /// assert_eq!(Theme::from_key("Super_Saiyan_Blue"), Some(Theme::SuperSaiyanBlue));
    /// assert_eq!(Theme::from_key("vegeta"), None);
    /// ```
    pub fn from_key(name: &str) -> Option<Theme> {
        let name = name.to_ascii_lowercase().replace('_', "-");
        Theme::CYCLE
            .into_iter()
            .chain([Theme::Plain])
            .find(|t| t.key() == name)
    }

    /// The theme `t` switches to. The plain theme stays plain: it is chosen because
    /// colour is unwanted, not for its looks.
    pub fn next(self) -> Theme {
        match Theme::CYCLE.iter().position(|&t| t == self) {
            Some(i) => Theme::CYCLE[(i + 1) % Theme::CYCLE.len()],
            None => self,
        }
    }

    /// The styles this theme draws with.
    pub fn palette(self) -> Palette {
        let (aura, bright) = match self {
            Theme::Kaioken => (Color::Red, Color::LightRed),
            Theme::SuperSaiyan => (Color::Yellow, Color::LightYellow),
            Theme::SuperSaiyanBlue => (Color::Cyan, Color::LightCyan),
            Theme::UltraInstinct => (Color::Gray, Color::White),
            Theme::Namek => (Color::Green, Color::LightGreen),
            Theme::Frieza => (Color::Magenta, Color::LightMagenta),
            Theme::Plain => {
                return Palette {
                    border: Style::new(),
                    accent: Style::new(),
                    dim: Style::new(),
                    good: Style::new(),
                    bad: Style::new(),
                    warn: Style::new(),
                };
            }
        };
        Palette {
            border: Style::new().fg(aura),
            accent: Style::new().fg(bright).add_modifier(Modifier::BOLD),
            dim: Style::new().fg(Color::DarkGray),
            good: Style::new().fg(Color::Green),
            bad: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            warn: Style::new().fg(Color::Yellow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_cycles_through_the_six_and_back() {
        let mut t = Theme::Kaioken;
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(t.name());
            t = t.next();
        }
        assert_eq!(t, Theme::Kaioken);
        assert_eq!(
            seen,
            [
                "Kaioken red",
                "Super Saiyan gold",
                "Super Saiyan Blue",
                "Ultra Instinct silver",
                "Namek green",
                "Frieza purple"
            ]
        );
        assert_eq!(Theme::Plain.next(), Theme::Plain);
    }

    #[test]
    fn every_key_names_its_theme() {
        for t in Theme::CYCLE.into_iter().chain([Theme::Plain]) {
            assert_eq!(Theme::from_key(t.key()), Some(t));
        }
    }

    /// Each aura is its own colour, and the plain theme has none at all.
    #[test]
    fn palettes() {
        let borders: Vec<_> = Theme::CYCLE.iter().map(|t| t.palette().border.fg).collect();
        insta::assert_debug_snapshot!(borders, @r"
        [
            Some(
                Red,
            ),
            Some(
                Yellow,
            ),
            Some(
                Cyan,
            ),
            Some(
                Gray,
            ),
            Some(
                Green,
            ),
            Some(
                Magenta,
            ),
        ]
        ");
        let plain = Theme::Plain.palette();
        for s in [
            plain.border,
            plain.accent,
            plain.dim,
            plain.good,
            plain.bad,
            plain.warn,
        ] {
            assert_eq!(s, Style::new());
        }
    }
}
