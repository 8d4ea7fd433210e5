//! Themes: `themes/*.toml` (built in: default, high-contrast, mono), a user's
//! own in `$XDG_CONFIG_HOME/beacon-console/themes/`, or a file by path; and
//! the colour depth of the terminal they are drawn on.

use std::path::{Path, PathBuf};

use ratatui::style::Color;
use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigError;

const BUILT_IN: [(&str, &str); 3] = [
    ("default", include_str!("../../themes/default.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// Colours by role on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False: no colour at all, state by symbols and modifiers.
    pub color: bool,
    pub good: Color,
    pub warn: Color,
    pub bad: Color,
    pub bar: Color,
    pub chart: Color,
    pub production: Color,
    pub read_only: Color,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    #[allow(dead_code)] // Shown in the file for people; the file name is the id.
    name: Option<String>,
    color: Option<bool>,
    good: Option<Spanned<String>>,
    warn: Option<Spanned<String>>,
    bad: Option<Spanned<String>>,
    bar: Option<Spanned<String>>,
    chart: Option<Spanned<String>>,
    production: Option<Spanned<String>>,
    read_only: Option<Spanned<String>>,
}

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Truecolor,
    Indexed256,
    Ansi16,
    None,
}

impl Depth {
    /// What `auto` means here: none under NO_COLOR, truecolor when
    /// COLORTERM says so, else what TERM names.
    pub fn detect() -> Self {
        let var = |v: &str| std::env::var(v).ok().filter(|x| !x.is_empty());
        Self::from_env(
            var("NO_COLOR").is_some(),
            var("COLORTERM").as_deref(),
            var("TERM").as_deref(),
        )
    }

    /// The depth these variables mean (kept apart from the environment for tests).
    pub fn from_env(no_color: bool, colorterm: Option<&str>, term: Option<&str>) -> Self {
        if no_color {
            return Depth::None;
        }
        if matches!(colorterm, Some("truecolor" | "24bit")) {
            return Depth::Truecolor;
        }
        let Some(term) = term else {
            return Depth::Indexed256;
        };
        if term.ends_with("-256color") || term.ends_with("-direct") {
            Depth::Indexed256
        } else if term == "dumb" || term.starts_with("vt") {
            // vt100, vt220: no colour (their bold and reverse still show).
            Depth::None
        } else {
            // xterm, screen, tmux, linux, rxvt…: the 16 colours they all have.
            Depth::Ansi16
        }
    }
}

impl Theme {
    /// Parses a theme file; roles it does not set come from the default.
    pub fn parse(file: &str, source: &str) -> Result<Self, ConfigError> {
        let raw: RawTheme = toml::from_str(source)
            .map_err(|e| ConfigError::at(file, source, e.span(), e.message().trim().to_string()))?;
        let base = if file == "default" {
            None
        } else {
            Some(Self::built_in("default").unwrap_or(FALLBACK))
        };
        let pick = |value: &Option<Spanned<String>>, role: &str, default: fn(&Theme) -> Color| {
            match value {
                Some(v) => v.get_ref().parse::<Color>().map_err(|_| {
                    ConfigError::at(
                        file,
                        source,
                        Some(v.span()),
                        format!(
                            "{role} = {:?} is not a colour: expected a name (red, lightblue…), a palette index 0–255 or #rrggbb",
                            v.get_ref()
                        ),
                    )
                }),
                None => Ok(base.as_ref().map_or(default(&FALLBACK), default)),
            }
        };
        Ok(Self {
            color: raw.color.unwrap_or(true),
            good: pick(&raw.good, "good", |t| t.good)?,
            warn: pick(&raw.warn, "warn", |t| t.warn)?,
            bad: pick(&raw.bad, "bad", |t| t.bad)?,
            bar: pick(&raw.bar, "bar", |t| t.bar)?,
            chart: pick(&raw.chart, "chart", |t| t.chart)?,
            production: pick(&raw.production, "production", |t| t.production)?,
            read_only: pick(&raw.read_only, "read_only", |t| t.read_only)?,
        })
    }

    pub fn built_in(name: &str) -> Option<Self> {
        let (_, source) = BUILT_IN.iter().find(|(n, _)| *n == name)?;
        Self::parse(name, source).ok()
    }

    /// A theme by name (built in, then the user's themes directory) or by
    /// path (anything with a `/` or ending in `.toml`).
    pub fn load(name_or_path: &str) -> Result<Self, ConfigError> {
        let path = if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
            PathBuf::from(name_or_path)
        } else if let Some(theme) = Self::built_in(name_or_path) {
            return Ok(theme);
        } else {
            match user_dir().map(|d| d.join(format!("{name_or_path}.toml"))) {
                Some(p) if p.is_file() => p,
                _ => {
                    return Err(ConfigError {
                        file: name_or_path.to_string(),
                        line: 0,
                        col: 0,
                        message: format!("no such theme (themes: {})", names().join(", ")),
                    });
                }
            }
        };
        let source = crate::config::read_text(&path, "theme")?;
        Self::parse(&path.display().to_string(), &source)
    }

    /// The theme as the terminal can show it.
    pub fn at_depth(mut self, depth: Depth) -> Self {
        let convert: fn(Color) -> Color = match depth {
            Depth::Truecolor => |c| c,
            Depth::Indexed256 => to_256,
            Depth::Ansi16 => to_16,
            Depth::None => {
                self.color = false;
                |c| c
            }
        };
        for c in [
            &mut self.good,
            &mut self.warn,
            &mut self.bad,
            &mut self.bar,
            &mut self.chart,
            &mut self.production,
            &mut self.read_only,
        ] {
            *c = convert(*c);
        }
        self
    }
}

/// If the built-in default could not be read (it is tested that it can).
const FALLBACK: Theme = Theme {
    color: true,
    good: Color::Green,
    warn: Color::Yellow,
    bad: Color::Red,
    bar: Color::Cyan,
    chart: Color::Blue,
    production: Color::Red,
    read_only: Color::Yellow,
};

fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("beacon-console").join("themes"))
}

/// Built-in theme names, then the user's.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
    if let Some(Ok(entries)) = user_dir().map(std::fs::read_dir) {
        let mut own: Vec<String> = entries
            .filter_map(|e| {
                let path = e.ok()?.path();
                (path.extension()? == "toml")
                    .then(|| path.file_stem()?.to_str().map(String::from))?
            })
            .filter(|n| !names.contains(n))
            .collect();
        own.sort();
        names.extend(own);
    }
    names
}

/// The standard xterm values of the 16 ANSI colours.
const ANSI: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

fn rgb_of(c: Color) -> Option<(u8, u8, u8)> {
    match c {
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Indexed(i) if i < 16 => Some(ANSI[i as usize].1),
        Color::Indexed(i) if i < 232 => {
            let i = i - 16;
            Some((
                CUBE[(i / 36) as usize],
                CUBE[(i / 6 % 6) as usize],
                CUBE[(i % 6) as usize],
            ))
        }
        Color::Indexed(i) => {
            let v = 8 + 10 * (i - 232);
            Some((v, v, v))
        }
        _ => None,
    }
}

/// Nearest entry of the 256-colour cube for a 24-bit colour.
fn to_256(c: Color) -> Color {
    match c {
        Color::Rgb(r, g, b) => {
            let level = |v: u8| {
                (0..6)
                    .min_by_key(|&i| (CUBE[i] as i32 - v as i32).abs())
                    .unwrap_or(0) as u8
            };
            Color::Indexed(16 + 36 * level(r) + 6 * level(g) + level(b))
        }
        other => other,
    }
}

/// Nearest of the 16 ANSI colours.
fn to_16(c: Color) -> Color {
    let Some((r, g, b)) = rgb_of(c) else {
        return c;
    };
    let distance = |(r2, g2, b2): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (a as i32 - b as i32).pow(2);
        d(r, r2) + d(g, g2) + d(b, b2)
    };
    ANSI.iter()
        .min_by_key(|(_, rgb)| distance(*rgb))
        .map_or(c, |(named, _)| *named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_themes_parse() {
        for (name, source) in BUILT_IN {
            Theme::parse(name, source).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(!Theme::built_in("mono").unwrap().color);
        assert_eq!(Theme::built_in("default").unwrap().bad, Color::Indexed(196));
    }

    #[test]
    fn a_bad_theme_says_where_and_what() {
        let e = Theme::parse("t.toml", "good = \"green\"\nbad = \"reddish\"\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 7), "{e}");
        assert!(
            e.to_string()
                .starts_with("t.toml:2:7: bad = \"reddish\" is not a colour"),
            "{e}"
        );
        let e = Theme::parse("t.toml", "good = \"green\"\nshiny = \"red\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("unknown field `shiny`"), "{e}");
        let e = Theme::parse("t.toml", "good = \n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn a_partial_theme_takes_the_rest_from_the_default() {
        let t = Theme::parse("t.toml", "bar = \"#ff00ff\"\n").unwrap();
        assert_eq!(t.bar, Color::Rgb(255, 0, 255));
        assert_eq!(t.bad, Theme::built_in("default").unwrap().bad);
    }

    #[test]
    fn colours_come_down_to_what_the_terminal_shows() {
        let t = Theme::built_in("high-contrast").unwrap();
        assert_eq!(t.at_depth(Depth::Truecolor).good, Color::Rgb(0, 255, 0));
        assert_eq!(t.at_depth(Depth::Indexed256).good, Color::Indexed(46));
        assert_eq!(t.at_depth(Depth::Ansi16).good, Color::LightGreen);
        assert_eq!(
            Theme::built_in("default")
                .unwrap()
                .at_depth(Depth::Ansi16)
                .bad,
            Color::LightRed
        );
        assert!(!t.at_depth(Depth::None).color);
    }
}
