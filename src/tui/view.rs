//! Drawing the state: header, the model × region matrix, status line, footer,
//! and the dialog or help on top. Pure: the same state draws the same frame.

use crate::domain::text::printable;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::domain::{CellId, Split};

use super::app::{App, Focus, Mode, Prompt, Tone};
use super::modes::{self, Page};
use super::reading::{Severity, Source};
use super::theme::Theme;

pub const MIN_WIDTH: u16 = 80;
/// 80×24 less a tmux or screen status line.
pub const MIN_HEIGHT: u16 = 23;
/// Lines per model row: five of figures and a rule.
const ROW_LINES: u16 = 6;
const LABEL_WIDTH: u16 = 14;
/// A cell at least this wide also shows p50, p99 and cost per 1k.
const WIDE_CELL: usize = 44;

/// A theme's colours, or none (NO_COLOR / mono): then state shows by
/// symbols and modifiers only.
impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn tone(self, tone: Tone) -> Style {
        match tone {
            Tone::Info => Style::default(),
            Tone::Good => self.fg(self.good),
            Tone::Warn => self.fg(self.warn).add_modifier(Modifier::BOLD),
            Tone::Bad => self.fg(self.bad).add_modifier(Modifier::BOLD),
        }
    }
}

pub fn draw(frame: &mut Frame, app: &App, palette: Theme) {
    draw_frame(frame, app, palette);
    if app.ascii {
        super::ascii::asciify(frame.buffer_mut());
    }
}

fn draw_frame(frame: &mut Frame, app: &App, palette: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = vec![
            Line::from("terminal too small"),
            Line::from(format!(
                "need {MIN_WIDTH}×{MIN_HEIGHT}, have {}×{}",
                area.width, area.height
            )),
            Line::from("resize, or q to quit"),
            Line::from("every other key is ignored until the console fits"),
            Line::from("to roll back meanwhile: beacon-console rollback --all"),
            Line::from(""),
        ];
        // A pending rollback and the last message stay visible here too.
        let mut text = text;
        if let Some(pending) = app.pending_rollback_text(std::time::Instant::now()) {
            text.push(Line::from(printable(&pending).into_owned()));
        }
        if let Some((message, tone)) = &app.status {
            text.push(Line::from(Span::styled(
                printable(message).into_owned(),
                palette.tone(*tone),
            )));
        }
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    let header = Rect::new(area.x, area.y, area.width, 1);
    let columns = Rect::new(area.x, area.y + 1, area.width, 1);
    let footer = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    let status = Rect::new(area.x, area.bottom() - 2, area.width, 1);
    let body = Rect::new(
        area.x,
        area.y + 2,
        area.width,
        area.height.saturating_sub(4),
    );
    draw_header(frame, header, app, palette);
    let scrolled = match &app.mode {
        Mode::History(h) => Some((h, "history")),
        Mode::Plan(h) => Some((h, "plan")),
        _ => None,
    };
    if let Some((modes::History { lines, offset }, name)) = scrolled {
        let rect = Rect::new(
            area.x,
            area.y + 1,
            area.width,
            area.height.saturating_sub(3),
        );
        let shown: Vec<Line> = lines
            .iter()
            .skip(*offset)
            .take(rect.height.saturating_sub(2) as usize)
            .map(|l| Line::from(l.as_str()))
            .collect();
        let title = format!(" {name} · {} line(s) · from {} ", lines.len(), offset + 1);
        // Long reasons wrap instead of being cut at the edge.
        let text = Paragraph::new(shown).wrap(ratatui::widgets::Wrap { trim: false });
        frame.render_widget(
            text.block(Block::default().borders(Borders::ALL).title(title)),
            rect,
        );
        draw_status(frame, status, app, palette);
        draw_footer(frame, footer, app);
        return;
    }
    if let Mode::Detail(modes::Detail { cell, changes }) = &app.mode {
        let rect = Rect::new(
            area.x,
            area.y + 1,
            area.width,
            area.height.saturating_sub(3),
        );
        draw_detail(frame, rect, app, cell, changes, palette);
        draw_status(frame, status, app, palette);
        draw_footer(frame, footer, app);
        return;
    }
    draw_columns(frame, columns, app, palette);
    draw_matrix(frame, body, app, palette);
    draw_status(frame, status, app, palette);
    draw_footer(frame, footer, app);
    match &app.mode {
        Mode::Confirm(_) => draw_confirm(frame, area, app, palette),
        Mode::GiveUpRollback(g) => draw_give_up(frame, area, app, g.focus, palette),
        Mode::Faults(f) => draw_faults(frame, area, app, f.cursor, palette),
        Mode::Help(modes::Help { page: Page::Keys }) => draw_help(frame, area, app),
        Mode::Help(modes::Help { page: Page::Legend }) => draw_legend(frame, area, app),
        Mode::Matrix
        | Mode::History { .. }
        | Mode::Plan { .. }
        | Mode::Input { .. }
        | Mode::Detail { .. } => {}
    }
}

/// "applied 2/3": the regions that apply the revision shown — by their
/// syncs' acknowledgements where the store keeps them, else by their
/// routers' metrics; when both are known and differ, the routers' count too.
fn applied_text(app: &App) -> String {
    let count =
        |known: Vec<bool>| (!known.is_empty()).then(|| known.iter().filter(|a| **a).count());
    let regions = &app.session.regions;
    let all = regions.len();
    let by_ack = count(regions.iter().filter_map(|r| app.applies(r)).collect());
    let by_routers = count(
        regions
            .iter()
            .filter_map(|r| app.routers_apply(r))
            .collect(),
    );
    match (by_ack, by_routers) {
        (None, _) => "applied ?".to_string(),
        (Some(n), Some(m)) if app.session.acknowledgements && n != m => {
            format!("applied {n}/{all} (routers {m}/{all})")
        }
        (Some(n), _) => format!("applied {n}/{all}"),
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, palette: Theme) {
    let applied = applied_text(app);
    let env_style = if app.session.production {
        palette
            .fg(palette.production)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    };
    // The product's name only where there is room: at 80 columns the
    // environment, revision and operator matter more.
    let mut spans = Vec::new();
    if area.width >= 100 {
        spans.push(Span::styled(
            " beacon-console ",
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::styled(
        format!(" {} ", app.session.environment.to_uppercase()),
        env_style,
    ));
    if app.session.read_only {
        spans.push(Span::styled(
            " READ-ONLY ",
            palette
                .fg(palette.read_only)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    if let Some(mut faults) = app.faults.summary() {
        // Rehearsal faults in force: said in text, not only colour. Narrow,
        // only the word (the `F` menu names them): the guard's word and the
        // revision need the room more.
        if area.width < 100 {
            faults = app.faults.count_word();
        }
        spans.push(Span::styled(
            format!(" {faults} "),
            palette.tone(Tone::Bad).add_modifier(Modifier::REVERSED),
        ));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(" /{} ", app.filter),
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    let revision = match (
        &app.document.store_error,
        app.matrix_age(std::time::Instant::now()),
    ) {
        (Some(_), _) => "?".to_string(),
        // Not refreshed for a while (a store held by another process): say so.
        (None, Some(age)) if age.as_secs() >= 3 => {
            format!("{} ({} s old)", app.document.revision, age.as_secs())
        }
        (None, _) => app.document.revision.to_string(),
    };
    // The clock keeps its place at the right edge; the rest gives way, the
    // least needed first: the operator, then the profile's name.
    let clock = format!(" {} ", app.clock);
    let clock_width = clock.chars().count() as u16;
    let room = (area.width.saturating_sub(clock_width) as usize)
        .saturating_sub(spans.iter().map(Span::width).sum::<usize>());
    // Who else has a console open on this store (etcd).
    let others = match app.other_operators().as_slice() {
        [] => String::new(),
        [one] => format!(" + {one}"),
        [one, rest @ ..] => format!(" + {one} +{}", rest.len()),
    };
    // The guard's word (armed, holding, observing, disarmed, elsewhere)
    // stays to the last: the operator's name and the profile's give way first.
    let guard_short = format!(" · {}", app.guard.word());
    let full = format!(
        " {} · {} rev {revision} · {applied}{guard_short} · {}{others}",
        app.session.profile_name, app.session.store_label, app.session.operator
    );
    let shorter = format!(
        " {} · {} rev {revision} · {applied}{guard_short}{others}",
        app.session.profile_name, app.session.store_label
    );
    let short = format!(
        " {} rev {revision} · {applied}{guard_short}{others}",
        app.session.store_label
    );
    let shorter_still = format!(" rev {revision} · {applied}{guard_short}");
    let shortest = format!(" rev {revision}{guard_short}");
    let text = [full, shorter, short, shorter_still]
        .into_iter()
        .find(|t| t.chars().count() <= room)
        .unwrap_or(shortest);
    spans.push(Span::raw(text));
    let left = Rect::new(area.x, area.y, area.width.saturating_sub(clock_width), 1);
    let right = Rect::new(left.right(), area.y, clock_width.min(area.width), 1);
    frame.render_widget(Paragraph::new(Line::from(clock)), right);
    let area = left;
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn cell_width(area: Rect, app: &App) -> u16 {
    (area.width.saturating_sub(LABEL_WIDTH)) / app.visible_regions().len().max(1) as u16
}

fn draw_columns(frame: &mut Frame, area: Rect, app: &App, palette: Theme) {
    let now = std::time::Instant::now();
    let w = cell_width(area, app);
    // The window every router figure below is counted over.
    let window = format!("traffic {}s", super::reading::TRAFFIC_WINDOW.as_secs());
    let mut spans = vec![Span::styled(
        pad(&window, LABEL_WIDTH as usize),
        Style::default().add_modifier(Modifier::DIM),
    )];
    for i in app.visible_regions() {
        let region = &app.session.regions[i];
        let late = app.is_late(region, now);
        // The store keeps acknowledgements and this region has none: no
        // sync runs beside its router (not "still applying").
        let no_sync = app.acknowledged(region) == Some(None);
        let mark = match (app.applies(region), app.ascii) {
            // A rollback it has not applied past the deadline.
            (Some(false), _) if late => "NOT APPLIED",
            (Some(false), _) if no_sync => "NO SYNC",
            (Some(true), false) => "✓",
            (Some(true), true) => "ok",
            (Some(false), false) => "…",
            (Some(false), true) => "..",
            (None, _) => "?",
        };
        let text = format!("{region} {mark}");
        let style = if late || no_sync {
            palette.tone(Tone::Bad).add_modifier(Modifier::BOLD)
        } else if i == app.cursor.1 {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(center(&text, w as usize), style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The first model row shown (a position among the rows the filter
/// shows), so that the cursor's row is on screen.
pub fn first_visible(app: &App, body_height: u16) -> usize {
    let fits = (body_height / ROW_LINES).max(1) as usize;
    let rows = app.visible_models();
    let row = rows.iter().position(|&r| r == app.cursor.0).unwrap_or(0);
    if row < app.scroll {
        row
    } else if row >= app.scroll + fits {
        row + 1 - fits
    } else {
        app.scroll
    }
}

fn draw_matrix(frame: &mut Frame, area: Rect, app: &App, palette: Theme) {
    let w = cell_width(area, app);
    let first = first_visible(app, area.height);
    let fits = (area.height / ROW_LINES).max(1) as usize;
    let mut y = area.y;
    let (rows, cols) = (app.visible_models(), app.visible_regions());
    for &row in rows.iter().skip(first).take(fits) {
        let model = &app.session.models[row];
        let label_style = if row == app.cursor.0 {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                truncate(model, LABEL_WIDTH as usize - 1),
                label_style,
            ))),
            Rect::new(area.x, y, LABEL_WIDTH, 1),
        );
        for (i, &col) in cols.iter().enumerate() {
            let x = area.x + LABEL_WIDTH + i as u16 * w;
            let cell = app.cell_at((row, col));
            let lines = cell_lines(app, &cell, w as usize, palette);
            let mut style = Style::default();
            if (row, col) == app.cursor {
                style = style.add_modifier(Modifier::REVERSED);
            }
            let rect = Rect::new(x, y, w.saturating_sub(1), ROW_LINES - 1);
            frame.render_widget(Paragraph::new(lines).style(style), rect);
        }
        let rule = "─".repeat(area.width as usize);
        frame.render_widget(
            Paragraph::new(rule).style(Style::default().add_modifier(Modifier::DIM)),
            Rect::new(area.x, y + ROW_LINES - 1, area.width, 1),
        );
        y += ROW_LINES;
    }
    if rows.len() > fits {
        let more = format!(
            " rows {}–{} of {} ",
            first + 1,
            (first + fits).min(rows.len()),
            rows.len()
        );
        let x = area.right().saturating_sub(more.chars().count() as u16);
        frame.render_widget(
            Paragraph::new(more),
            Rect::new(x, area.bottom().saturating_sub(1), area.width - x, 1),
        );
    }
}

fn short(provider: &str) -> String {
    match provider {
        "runpod" => "RP".into(),
        "modal" => "MO".into(),
        other => other.chars().take(2).collect::<String>().to_uppercase(),
    }
}

fn ms(v: Option<u64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 10_000 => format!("{}s", v / 1000),
        Some(v) if v >= 1000 => format!("{:.1}s", v as f64 / 1000.0),
        Some(v) => format!("{v}ms"),
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The latest values as levels (`×` or `x`: no answer).
fn sparkline(values: &[u32], width: usize, ascii: bool) -> String {
    let levels = if ascii { super::ascii::LEVELS } else { BARS };
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|&v| {
            if v == 0 {
                if ascii { 'x' } else { '×' }
            } else {
                levels[((v as usize * 7) / max as usize).min(7)]
            }
        })
        .collect()
}

fn bar(per_mille: u16, width: usize, ascii: bool) -> String {
    let (full, empty) = if ascii { ("#", ".") } else { ("█", "░") };
    let filled = (per_mille as usize * width + 500) / 1000;
    format!("{}{}", full.repeat(filled), empty.repeat(width - filled))
}

fn percent(per_mille: u16) -> String {
    if per_mille.is_multiple_of(10) {
        format!("{}%", per_mille / 10)
    } else {
        format!("{:.1}%", f64::from(per_mille) / 10.0)
    }
}

/// Five lines for one cell: requested split, served share and revision, p95
/// per provider with a sparkline, errors and cold starts.
fn cell_lines<'a>(app: &App, cell: &CellId, w: usize, palette: Theme) -> Vec<Line<'a>> {
    let split = app
        .document
        .routes
        .get(cell)
        .cloned()
        .unwrap_or_else(|| Split::all(app.session.fallback.as_str()));
    let target_share = split.share(&app.session.target).get();
    let selected = app.is_selected(cell);
    let mark = if selected {
        "◆"
    } else if app
        .document
        .news
        .as_ref()
        .is_some_and(|n| n.cells.contains(cell))
    {
        // Just changed by someone else (the status line says who and why).
        "*"
    } else {
        " "
    };
    let label = format!("{mark}{} ", short(&app.session.target));
    let pct = percent(target_share);
    let bar_width = w.saturating_sub(label.chars().count() + pct.chars().count() + 2);
    let line1 = if app.document.store_error.is_some() {
        // The document could not be read: the split asked for is unknown.
        Line::from(vec![
            Span::styled(label, Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(
                pad("split unknown", bar_width + pct.chars().count() + 1),
                palette.tone(Tone::Bad),
            ),
        ])
    } else {
        Line::from(vec![
            Span::styled(label, Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(
                bar(target_share, bar_width, app.ascii),
                palette.fg(palette.bar),
            ),
            Span::raw(format!(" {pct}")),
        ])
    };

    let served = app.live.served(cell, &app.session.target);
    let asked = f64::from(target_share) / 10.0;
    let (served_text, served_tone) = match served {
        None => (" served —".to_string(), Tone::Info),
        Some(s) if app.live.mismatch(cell, &app.session.target, asked) => {
            let differs = if app.ascii { "!=" } else { "≠" };
            (format!(" served {s:.0}% {differs}"), Tone::Warn)
        }
        Some(s) => (format!(" served {s:.0}%"), Tone::Info),
    };
    let workers = app
        .live
        .probed(cell, &app.session.target)
        .and_then(|p| p.health)
        .map_or_else(String::new, |h| {
            format!(
                " w{}/{}/{}",
                h.workers.idle, h.workers.running, h.workers.initializing
            )
        });
    let mut used = served_text.chars().count();
    let mut line2 = vec![Span::styled(served_text, palette.tone(served_tone))];
    if let Some((mark, tone)) = guard_mark(app, cell) {
        used += mark.chars().count();
        line2.push(Span::styled(mark, palette.tone(tone)));
    }
    // Whole or not at all: a count cut to `w2/0` reads as a figure.
    if used + workers.chars().count() <= w {
        line2.push(Span::styled(
            workers,
            Style::default().add_modifier(Modifier::DIM),
        ));
    }
    let line2 = Line::from(line2);

    let provider_lines = [&app.session.target, &app.session.fallback]
        .into_iter()
        .map(|provider| provider_line(app, cell, provider, w, palette));
    let mut line5 = cold_line(app, cell, palette);
    if w >= WIDE_CELL {
        // Cost per 1k inferences at the median latency, per provider.
        for provider in [&app.session.target, &app.session.fallback] {
            let figures = app.live.probed(cell, provider).map(|p| p.figures);
            let cost = cost_per_1k(app, provider, figures.as_ref());
            line5.push(Span::styled(
                format!("  {} {cost}/1k", short(provider)),
                Style::default().add_modifier(Modifier::DIM),
            ));
        }
    }
    let line5 = Line::from(line5);
    let mut lines = vec![line1, line2];
    lines.extend(provider_lines);
    lines.push(line5);
    lines
}

/// The guard's last verdict on a cell in the canary, in a few characters
/// readable without colour: `G ok`, `G 2/3!!` (breaches in a row of the
/// threshold), `G few` (too few requests), `G n/a` (no data). Nothing where
/// the guard is disarmed or the cell is not in the canary.
fn guard_mark(app: &App, cell: &CellId) -> Option<(String, Tone)> {
    use crate::domain::guard::Verdict;
    if app.guard.mode() == crate::domain::guard::GuardMode::Disarmed {
        return None;
    }
    // Out of the canary now (rolled back since): nothing judged any more.
    let split = app.document.routes.get(cell)?;
    if split.share(&app.session.target).get() == 0 {
        return None;
    }
    let check = app.guard.last_check.as_ref()?;
    let c = check.cells.iter().find(|c| &c.cell == cell)?;
    let threshold = app.guard.guard.as_ref()?.limits.failures_in_a_row;
    Some(match &c.verdict {
        Verdict::Pass => (" G ok".into(), Tone::Good),
        Verdict::Breach(_) => (format!(" G {}/{threshold}!!", c.streak), Tone::Bad),
        Verdict::Inconclusive { .. } => (" G few".into(), Tone::Info),
        Verdict::NoData(_) => (" G n/a".into(), Tone::Warn),
    })
}

/// The tone a severity is drawn in.
fn severity_tone(severity: Severity) -> Tone {
    match severity {
        Severity::Ok => Tone::Good,
        Severity::Warn => Tone::Warn,
        Severity::Bad => Tone::Bad,
    }
}

/// One provider of a cell: `RP 180ms  0.2%   ▂▃▅` — p95 and errors, each
/// with its severity mark (` !` warn, `!!` bad: readable without colour),
/// `~` after the name when the figures come from probes (no traffic), the
/// word DOWN when every request fails, `stale` when the routers went quiet.
fn provider_line<'a>(
    app: &App,
    cell: &CellId,
    provider: &str,
    w: usize,
    palette: Theme,
) -> Line<'a> {
    let name = short(provider);
    // Not called at all (the status line says why).
    if app.live.unavailable.contains_key(provider) {
        return Line::from(Span::styled(
            pad(&format!(" {name} no credentials"), w),
            palette.tone(Tone::Warn),
        ));
    }
    let r = app.live.reading(cell, provider);
    let source = if r.source == Source::Probes { "~" } else { " " };
    if r.stale {
        return Line::from(Span::styled(
            pad(&format!(" {name}{source}stale: no traffic figures"), w),
            palette.tone(Tone::Warn),
        ));
    }
    if r.down() {
        let err = r.error_percent.unwrap_or(100.0);
        return Line::from(Span::styled(
            pad(&format!(" {name}{source}DOWN {err:.0}% err!!"), w),
            palette.tone(Tone::Bad).add_modifier(Modifier::REVERSED),
        ));
    }
    // The cell's own limits where the profile gives it some.
    let slo = app.session.slo.for_cell(cell);
    let (latency, errors) = (r.latency(&slo), r.errors(&slo));
    let p95 = ms(r.p95_ms.map(|v| v.round() as u64));
    let err = r
        .error_percent
        .map_or_else(|| "—".to_string(), |e| format!("{e:.1}%"));
    let head = format!(" {name}{source}");
    let p95_text = format!("{p95:>5}{}", latency.mark());
    let err_text = format!("{err:>5}{}", errors.mark());
    let used = head.chars().count() + p95_text.chars().count() + err_text.chars().count() + 1;
    let spark = app
        .live
        .probed(cell, provider)
        .map_or_else(String::new, |p| {
            sparkline(&p.recent, w.saturating_sub(used + 1), app.ascii)
        });
    Line::from(vec![
        Span::raw(head),
        Span::styled(p95_text, palette.tone(severity_tone(latency))),
        Span::styled(err_text, palette.tone(severity_tone(errors))),
        Span::raw(" "),
        Span::styled(spark, palette.fg(palette.chart)),
    ])
}

/// Cold starts of both providers, target first: `cold  12%!!  3%`.
fn cold_line<'a>(app: &App, cell: &CellId, palette: Theme) -> Vec<Span<'a>> {
    let mut spans = vec![Span::raw(" cold")];
    for provider in [&app.session.target, &app.session.fallback] {
        let r = app.live.reading(cell, provider);
        let severity = r.cold(&app.session.slo.for_cell(cell));
        let text = r
            .cold_percent
            .filter(|_| !r.stale)
            .map_or_else(|| "—".to_string(), |c| format!("{c:.0}%"));
        spans.push(Span::styled(
            format!(" {text:>4}{}", severity.mark()),
            palette.tone(severity_tone(severity)),
        ));
    }
    spans
}

/// One cell: per provider the split asked for and served, percentiles, probe
/// counts, workers, cost per 1k inferences and a latency chart; then the
/// changes that touched the cell.
fn draw_detail(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    cell: &CellId,
    changes: &[String],
    palette: Theme,
) {
    use ratatui::widgets::Sparkline;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {cell} "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let split = app
        .document
        .routes
        .get(cell)
        .cloned()
        .unwrap_or_else(|| Split::all(app.session.fallback.as_str()));
    let half = inner.width / 2;
    let chart_height = 4u16;
    // Ten lines of figures and a blank one before the chart.
    let text_height = 11u16;
    for (i, provider) in [&app.session.target, &app.session.fallback]
        .into_iter()
        .enumerate()
    {
        let x = inner.x + i as u16 * half;
        let probed = app.live.probed(cell, provider);
        let lines = provider_detail(app, cell, provider, &split);
        frame.render_widget(
            Paragraph::new(lines),
            Rect::new(x + 1, inner.y, half.saturating_sub(2), text_height),
        );
        let data: Vec<u64> = probed
            .map(|p| p.recent.iter().map(|&v| u64::from(v)).collect())
            .unwrap_or_default();
        let chart = Rect::new(
            x + 1,
            inner.y + text_height,
            half.saturating_sub(2),
            chart_height,
        );
        let tail = &data[data.len().saturating_sub(chart.width as usize)..];
        frame.render_widget(
            Sparkline::default()
                .data(tail)
                .style(palette.fg(palette.chart)),
            chart,
        );
    }
    let list_y = inner.y + text_height + chart_height + 1;
    let room = inner.bottom().saturating_sub(list_y) as usize;
    let mut lines = vec![Line::from(Span::styled(
        "changes to this cell, newest first:",
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    if changes.is_empty() {
        lines.push(Line::from("  none recorded"));
    }
    lines.extend(
        changes
            .iter()
            .take(room.saturating_sub(1))
            .map(|l| Line::from(l.as_str())),
    );
    // A long reason wraps rather than being cut at the edge.
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        Rect::new(
            inner.x + 1,
            list_y,
            inner.width.saturating_sub(2),
            room as u16,
        ),
    );
}

/// One provider of a cell in detail: asked and served, the routers' traffic
/// over the window, the probes' percentiles, errors by class, start delays,
/// workers and cost.
fn provider_detail<'a>(app: &App, cell: &CellId, provider: &str, split: &Split) -> Vec<Line<'a>> {
    let probed = app.live.probed(cell, provider);
    let f = probed.map(|p| p.figures);
    let asked = percent(split.share(provider).get());
    let served = app
        .live
        .served(cell, provider)
        .map_or_else(|| "—".to_string(), |s| format!("{s:.1}%"));
    let cost = cost_per_1k(app, provider, f.as_ref());
    let workers = probed.and_then(|p| p.health).map_or_else(
        || "workers —".to_string(),
        |h| {
            format!(
                "workers idle {} running {} init {}",
                h.workers.idle, h.workers.running, h.workers.initializing
            )
        },
    );
    let (requests, errors, cold) = f.map_or((0, 0, 0), |f| (f.requests, f.errors, f.cold));
    let share = |n: u64| {
        if requests == 0 {
            "—".to_string()
        } else {
            format!("{:.1}%", n as f64 * 100.0 / requests as f64)
        }
    };
    vec![
        Line::from(Span::styled(
            format!("{provider}  asked {asked}  served {served}"),
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(router_detail(app, cell, provider)),
        Line::from(router_errors(app, cell, provider)),
        Line::from(format!(
            "probes p50 {:<6} p90 {}",
            ms(f.and_then(|f| f.p50_ms)),
            ms(f.and_then(|f| f.p90_ms)),
        )),
        Line::from(format!(
            "probes p95 {:<6} p99 {}",
            ms(f.and_then(|f| f.p95_ms)),
            ms(f.and_then(|f| f.p99_ms)),
        )),
        Line::from(format!(
            "{requests} probes/min · err {} · cold {}",
            share(errors),
            share(cold)
        )),
        Line::from(errors_by_class(f.map(|f| f.errors_by_class))),
        Line::from(start_delays(probed.map_or(&[][..], |p| &p.delays))),
        Line::from(workers),
        Line::from(format!("cost per 1k inferences ≈ {cost}")),
        Line::from(probe_cost(app, provider, f.as_ref())),
    ]
}

/// A provider's price per second (0 where the profile has none).
fn price_of(app: &App, provider: &str) -> f64 {
    app.session
        .prices
        .iter()
        .find(|(id, _)| id == provider)
        .map_or(0.0, |(_, p)| *p)
}

/// What probing this endpoint costs an hour at the rate it is probed now:
/// probes a minute × 60 × the median latency × the price per second.
fn probe_cost(app: &App, provider: &str, figures: Option<&crate::telemetry::Figures>) -> String {
    let price = price_of(app, provider);
    match figures {
        Some(f) if f.requests == 0 => "not probed here (router traffic instead)".into(),
        Some(f) => f.p50_ms.map_or_else(
            || "probing cost —".into(),
            |ms| {
                let per_hour = f.requests as f64 * 60.0 * ms as f64 / 1000.0 * price;
                format!("probing ≈ ${per_hour:.3}/hour ({}/min)", f.requests)
            },
        ),
        None => "not probed here (router traffic instead)".into(),
    }
}

/// The routers' traffic to `provider` in `cell`, if any.
fn router_traffic<'a>(
    app: &'a App,
    cell: &CellId,
    provider: &str,
) -> Option<(
    &'a crate::telemetry::CellTraffic,
    &'a crate::telemetry::scrape::ProviderTraffic,
)> {
    let t = app.live.traffic.get(cell)?;
    let p = t.providers.get(provider).filter(|p| p.requests > 0.0)?;
    Some((t, p))
}

/// "router 10 s: 240 req · p95 180ms", or why not (fits half of 80 columns).
fn router_detail(app: &App, cell: &CellId, provider: &str) -> String {
    match router_traffic(app, cell, provider) {
        Some((t, p)) => format!(
            "router {} s: {:.0} req · p95 {}",
            t.window.as_secs(),
            p.requests,
            ms(p.p95_s.map(|s| (s * 1000.0).round() as u64)),
        ),
        None => "router: no traffic to it here".to_string(),
    }
}

/// "router err 0.2% · cold 4%".
fn router_errors(app: &App, cell: &CellId, provider: &str) -> String {
    match router_traffic(app, cell, provider) {
        Some((_, p)) => format!(
            "router err {} · cold {}",
            p.error_percent()
                .map_or_else(|| "—".into(), |e| format!("{e:.1}%")),
            p.cold_percent()
                .map_or_else(|| "—".into(), |c| format!("{c:.0}%")),
        ),
        None => String::new(),
    }
}

/// Cost per 1k inferences ≈ price per second × the median latency: what a
/// request is billed for.
fn cost_per_1k(app: &App, provider: &str, figures: Option<&crate::telemetry::Figures>) -> String {
    let price = price_of(app, provider);
    figures.and_then(|f| f.p50_ms).map_or_else(
        || "—".to_string(),
        |ms| format!("${:.3}", price * ms as f64),
    )
}

/// The distribution of the last start delays (queue and cold start):
/// "start p50 120ms p95 9.8s max 11s (40)".
fn start_delays(delays: &[u32]) -> String {
    if delays.is_empty() {
        return "start delay —".to_string();
    }
    let mut sorted = delays.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| {
        let i = ((sorted.len() - 1) as f64 * q).round() as usize;
        Some(u64::from(sorted[i]))
    };
    // Fits half of an 80-column screen.
    format!(
        "start p50 {} p95 {} max {}",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
    )
}

/// "errors: timeout 2 · rate limited 1", most frequent first.
fn errors_by_class(counts: Option<crate::telemetry::window::ErrorCounts>) -> String {
    use crate::providers::ErrorClass;
    let Some(counts) = counts else {
        return "errors: —".to_string();
    };
    let mut seen: Vec<(ErrorClass, u32)> = ErrorClass::ALL
        .into_iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .collect();
    if seen.is_empty() {
        return "errors: none".to_string();
    }
    seen.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let list: Vec<String> = seen
        .iter()
        .map(|(class, n)| format!("{} {n}", class.label()))
        .collect();
    format!("errors: {}", list.join(" · "))
}

fn draw_status(frame: &mut Frame, area: Rect, app: &App, palette: Theme) {
    if let Mode::Input(modes::Line { input, prompt }) = &app.mode {
        let prompt = match prompt {
            Prompt::Share(selection) => {
                format!(" {} share for {selection}, in %: ", app.session.target)
            }
            Prompt::Command => ":".to_string(),
            Prompt::Filter => "/".to_string(),
        };
        let width = area.width.saturating_sub(prompt.chars().count() as u16 + 1) as usize;
        let scroll = input.visual_scroll(width);
        let shown: String = input.value().chars().skip(scroll).take(width).collect();
        let line = Line::from(vec![
            Span::styled(
                prompt.clone(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(shown),
        ]);
        let area = Rect::new(area.x, area.bottom() - 1, area.width, 1);
        frame.render_widget(Clear, area);
        frame.render_widget(Paragraph::new(line), area);
        let x = area.x
            + prompt.chars().count() as u16
            + (input.visual_cursor().saturating_sub(scroll)) as u16;
        frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        if let Some((text, tone)) = &app.status {
            let above = Rect::new(area.x, area.y - 1, area.width, 1);
            frame.render_widget(
                Paragraph::new(Line::from(Span::styled(
                    format!(" {text}"),
                    palette.tone(*tone),
                ))),
                above,
            );
        }
        return;
    }
    // Messages can quote stored text (who changed what, and why): escaped.
    let armed = app.rollback_armed.is_some();
    let line = if let (true, Some((text, tone))) = (armed, &app.status) {
        // "Press X again": always seen, whatever else is wrong.
        Line::from(Span::styled(
            format!(" {}", printable(text)),
            palette.tone(*tone).add_modifier(Modifier::BOLD),
        ))
    } else if let Some(text) = app.pending_rollback_text(std::time::Instant::now()) {
        Line::from(Span::styled(
            format!(" {}", printable(&text)),
            palette.tone(Tone::Bad).add_modifier(Modifier::REVERSED),
        ))
    } else if let Some(banner) = &app.banner {
        Line::from(Span::styled(
            format!(" {} (Enter to acknowledge)", printable(banner)),
            palette.tone(Tone::Bad).add_modifier(Modifier::REVERSED),
        ))
    } else if let Some(error) = &app.document.store_error {
        Line::from(Span::styled(
            format!(" FLAG STORE: {}", printable(error)),
            palette.tone(Tone::Bad).add_modifier(Modifier::REVERSED),
        ))
    } else if let Some((text, tone)) = &app.status {
        Line::from(Span::styled(
            format!(" {}", printable(text)),
            palette.tone(*tone),
        ))
    } else {
        let cell = app.current();
        let sel = if app.selected.is_empty() {
            String::new()
        } else {
            format!(" · {} selected", app.selected.len())
        };
        Line::from(format!(" {cell}{sel}"))
    };
    // A long message (a conflict says who, when and what) takes the line
    // above too rather than being cut.
    let rows = (line.width() as u16)
        .div_ceil(area.width.max(1))
        .clamp(1, 4);
    let area = Rect::new(area.x, area.bottom() - rows, area.width, rows);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(line).wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}

/// The keys that apply now; when they do not all fit, the least needed
/// give way (the `?` help always lists every key).
fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let mut keys = app.footer_keys();
    let width = |keys: &[(String, &str, u8)]| -> usize {
        keys.iter()
            .map(|(k, what, _)| k.chars().count() + what.chars().count() + 3)
            .sum()
    };
    while width(&keys) > area.width as usize {
        let Some(least) = keys
            .iter()
            .enumerate()
            .max_by_key(|(i, (_, _, rank))| (*rank, *i))
            .map(|(i, _)| i)
        else {
            break;
        };
        keys.remove(least);
    }
    let mut spans = Vec::new();
    for (key, what, _) in keys {
        spans.push(Span::styled(
            format!(" [{key}]"),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(what));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn split_text(split: Option<&Split>) -> String {
    match split {
        None => "—".into(),
        Some(s) => s
            .weights()
            .iter()
            .map(|(p, w)| format!("{} {}", short(p), percent(*w)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn draw_confirm(frame: &mut Frame, area: Rect, app: &App, palette: Theme) {
    let Mode::Confirm(dialog) = &app.mode else {
        return;
    };
    let lines = confirm_body(app, dialog, palette);
    // The reason and the buttons always show, at the bottom: the body above
    // wraps and, on a small screen, gives way first.
    const WIDTH: u16 = 64;
    let inner_width = usize::from(WIDTH - 2);
    let body_rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum();
    let height = (body_rows as u16 + 2 + 2).min(area.height.saturating_sub(2));
    let rect = centered(area, WIDTH, height);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", dialog.pending.title))
        .border_style(palette.tone(Tone::Warn));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let body = Rect::new(
        inner.x,
        inner.y,
        inner.width,
        inner.height.saturating_sub(2),
    );
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        body,
    );
    let apply = format!("Apply to {} cell(s)", dialog.pending.changes.len());
    let bottom = vec![
        reason_line(&dialog.reason, dialog.focus),
        Line::from(vec![
            Span::raw("   "),
            button("Cancel", dialog.focus == Focus::Cancel),
            Span::raw("   "),
            button(&apply, dialog.focus == Focus::Confirm),
        ]),
    ];
    let bottom_rect = Rect::new(inner.x, inner.bottom().saturating_sub(2), inner.width, 2);
    frame.render_widget(Paragraph::new(bottom), bottom_rect);
}

/// The dialog's body: the base revision, STALE, before → after, where the
/// traffic goes, production's words.
fn confirm_body<'a>(app: &App, dialog: &modes::Confirm, palette: Theme) -> Vec<Line<'a>> {
    let pending = &dialog.pending;
    let shown = pending.changes.len().min(8);
    let mut lines = vec![Line::from(format!(
        " based on revision {}",
        pending.base.revision()
    ))];
    if let Some(why) = &dialog.stale {
        // Said at once, before anyone presses Apply on an old picture.
        lines.push(Line::from(Span::styled(
            format!(" {}", printable(why)),
            palette.tone(Tone::Bad).add_modifier(Modifier::REVERSED),
        )));
    }
    lines.push(Line::from(""));
    for change in pending.changes.iter().take(shown) {
        lines.push(Line::from(format!(
            " {:<24} {} → {}",
            truncate(&change.cell.to_string(), 24),
            split_text(change.before.as_ref()),
            split_text(Some(&change.after))
        )));
    }
    if pending.changes.len() > shown {
        lines.push(Line::from(format!(
            " … and {} more",
            pending.changes.len() - shown
        )));
    }
    if !pending.skipped.is_empty() {
        lines.push(Line::from(format!(
            " {} cell(s) left as they are",
            pending.skipped.len()
        )));
    }
    lines.push(Line::from(""));
    lines.extend(gaining_lines(app, pending, palette));
    if let Some(input) = &dialog.typed {
        lines.push(Line::from(""));
        lines.extend(production_lines(app, dialog, input, palette));
    }
    lines
}

/// Where a dialog's change sends traffic, for every cell: failing there, or cold.
fn gaining_lines<'a>(app: &App, pending: &modes::Pending, palette: Theme) -> Vec<Line<'a>> {
    let warnings = app.gaining_warnings(pending);
    // Warming helps a cold provider, not a failing one.
    let warned = warnings.iter().any(|(_, tone)| *tone == Tone::Warn);
    let mut lines: Vec<Line> = warnings
        .into_iter()
        .map(|(text, tone)| {
            let mark = match tone {
                Tone::Bad => "!! ",
                Tone::Warn => " ! ",
                Tone::Info | Tone::Good => "",
            };
            Line::from(Span::styled(format!(" {mark}{text}"), palette.tone(tone)))
        })
        .collect();
    if warned {
        lines.push(Line::from(format!(
            "   ({} on those cells warms them)",
            app.session.keymap.label(super::keymap::Command::Warmup)
        )));
    }
    lines
}

/// Production: a change forward is typed, not pressed.
fn production_lines<'a>(
    app: &App,
    dialog: &modes::Confirm,
    input: &tui_input::Input,
    palette: Theme,
) -> Vec<Line<'a>> {
    let words = dialog.confirmation_words(&app.session.environment);
    vec![
        Line::from(Span::styled(
            format!(
                " {}: type {} to apply",
                app.session.environment.to_uppercase(),
                words.join(" or ")
            ),
            palette.tone(Tone::Warn).add_modifier(Modifier::BOLD),
        )),
        Line::from(vec![
            Span::raw(" > "),
            Span::styled(
                input.value().to_string(),
                Style::default().add_modifier(Modifier::UNDERLINED),
            ),
        ]),
    ]
}

/// Why, for the audit: optional, reached with Tab.
fn reason_line<'a>(reason: &tui_input::Input, focus: Focus) -> Line<'a> {
    let style = if focus == Focus::Reason {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::UNDERLINED)
    };
    let text = match reason.value() {
        "" if focus != Focus::Reason => "(optional, Tab)".to_string(),
        text => text.to_string(),
    };
    Line::from(vec![
        Span::raw(" reason: "),
        Span::styled(pad(&text, 50), style),
    ])
}

/// A dialog's button, reversed when it has the focus (visible without colour).
fn button<'a>(label: &str, focused: bool) -> Span<'a> {
    let style = if focused {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    } else {
        Style::default()
    };
    Span::styled(format!("[ {label} ]"), style)
}

fn draw_give_up(frame: &mut Frame, area: Rect, app: &App, focus: Focus, palette: Theme) {
    let Some(pending) = &app.rollback else {
        return;
    };
    let rect = centered(area, 64, 8);
    frame.render_widget(Clear, rect);
    let lines = vec![
        Line::from(format!(
            " The rollback of {} is NOT written ({} attempt(s)).",
            pending.selection, pending.attempts
        )),
        Line::from(" Giving up leaves the document as it is."),
        Line::from(""),
        Line::from(vec![
            Span::raw("   "),
            button("Keep retrying", focus == Focus::Cancel),
            Span::raw("   "),
            button("Give up", focus == Focus::Confirm),
        ]),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Give up the rollback? ")
        .border_style(palette.tone(Tone::Bad));
    let text = Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false });
    frame.render_widget(text.block(block), rect);
}

/// The demo's fault menu: what each choice does to the cursor's region.
fn draw_faults(frame: &mut Frame, area: Rect, app: &App, cursor: usize, palette: Theme) {
    let region = app.current().region.to_string();
    let choices = super::faults::CHOICES;
    let rect = centered(area, 56, choices.len() as u16 + 5);
    frame.render_widget(Clear, rect);
    let mut lines: Vec<Line> = choices
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            let text = format!(" {} {}", i + 1, choice.label(&region));
            let style = if i == cursor {
                Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                Style::default()
            };
            Line::from(Span::styled(pad(&text, 52), style))
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(format!(" in force: {}", app.faults.rules.len())));
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" demo faults (the simulator only) ")
        .border_style(palette.tone(Tone::Warn));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

/// What the matrix's marks and figures mean (the help's second page).
fn draw_legend(frame: &mut Frame, area: Rect, app: &App) {
    let window = super::reading::TRAFFIC_WINDOW.as_secs();
    let slo = &app.session.slo;
    let rows: [(&str, String); 12] = [
        (
            "RP ███░░ 25%",
            "the split asked for: the target's share".into(),
        ),
        (
            "served 24%",
            "what the routers sent since they applied it".into(),
        ),
        (
            "served 24% ≠",
            "differs from the asked share beyond noise".into(),
        ),
        (
            "w1/0/0",
            "RunPod workers idle / running / initializing".into(),
        ),
        (
            "RP 180ms 0.2%",
            format!("p95 and errors of router traffic, last {window} s"),
        ),
        ("RP~", "~: from probes (no traffic to it there)".into()),
        (
            "DOWN, stale",
            "every request fails / no figures lately".into(),
        ),
        ("cold 12% 3%", "cold starts, target then fallback".into()),
        (
            " !  !!",
            format!(
                "warn / bad against the SLO (p95 {} ms, err {}%)",
                slo.latency_p95_ms, slo.error_rate_percent
            ),
        ),
        (
            "✓ … ?",
            "the region applies the revision / not yet / ?".into(),
        ),
        ("* ◆", "changed by someone else just now / selected".into()),
        (
            "G ok  G 2/3!!",
            "guard: pass / breaches in a row; few, n/a: no verdict".into(),
        ),
    ];
    let rows: Vec<String> = rows
        .iter()
        .map(|(mark, meaning)| format!(" {} {meaning}", pad(mark, 15)))
        .collect();
    let rect = centered(area, area.width.saturating_sub(2), rows.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    let lines: Vec<Line> = rows.iter().map(|r| Line::from(r.clone())).collect();
    let block = Block::default().borders(Borders::ALL).title(" legend ");
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn draw_help(frame: &mut Frame, area: Rect, app: &App) {
    let rows = app.session.keymap.help();
    let extra = u16::from(app.session.sim_address.is_some());
    let rect = centered(
        area,
        area.width.saturating_sub(2),
        rows.len() as u16 + 4 + extra,
    );
    frame.render_widget(Clear, rect);
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|(keys, what, writes)| {
            let note = if *writes && app.session.read_only {
                " (disabled: read-only)"
            } else {
                ""
            };
            Line::from(format!(" {:<12} {what}{note}", keys))
        })
        .collect();
    lines.push(Line::from(" Ctrl-L       redraw the screen"));
    lines.push(Line::from(
        " Ctrl-Z       suspend to the shell (fg comes back)",
    ));
    if let Some(address) = &app.session.sim_address {
        lines.push(Line::from(format!(
            " simulator    {address} (faults: POST /sim/faults)"
        )));
    }
    let block = Block::default().borders(Borders::ALL).title(" keys ");
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn center(s: &str, width: usize) -> String {
    let s = truncate(s, width);
    let n = s.chars().count();
    let left = (width - n) / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(width - n - left))
}
