//! The live view's terminal side: when it is shown, the screen it owns, and the
//! render thread that draws kaioken-tui's dashboard from the run's snapshots.
//!
//! ```text
//!   controller thread (runtime::run) ── on_tick: Snapshot, every 250 ms ──┐ mpsc
//!        (copied into one the render thread handed back, if any)  ▲       ▼
//!   render thread "kaioken-view": drain the channel (try_recv, keep the latest,
//!        hand the one it replaces back ─────────────────────────────┘),
//!        judge the thresholds on it, draw when something changed (a snapshot, a
//!        key, a resize) but at most --fps times a second, read keys between frames
//!        q / Esc / Ctrl-C ─► Control::interrupt(), as SIGINT does
//!   main thread: when run returns, drop the sender ─► the render thread ends,
//!        the Screen is dropped (terminal restored) ─► the summary, on the main screen
//!        (waiting at most RENDER_GRACE: a hung terminal never holds the report)
//! ```
//!
//! Nothing here runs on a worker thread, and the only cost to the run is one
//! snapshot copy and channel send per tick on the controller thread. The copy
//! goes into a snapshot the view is done with (`Snapshot::copy_from`), so once
//! two have gone round it allocates nothing and copies only the histograms that
//! changed: a clone per tick was the live view's main cost, a few MiB a tick
//! with many steps.
//!
//! The terminal is restored on every path: `Screen`'s `Drop` (normal end, `q`,
//! Ctrl-C, an error returned by the run, a panic unwinding through the scope), and a
//! panic hook that restores it before the panic message is printed.

use std::io::{IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Once, mpsc};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use kaioken_compiler::{Ir, Redact, Verdict};
use kaioken_runtime::{Control, Snapshot};
use kaioken_tui::{
    Action, CheckInfo, Controls, Key, RunInfo, ScenarioInfo, Stage, Theme, ThresholdLine, View,
};
use kaioken_vm::RunPlan;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::args::RunArgs;
use crate::error::Error;

/// How the live view looks, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The theme it opens with.
    pub theme: Theme,
    /// Frames per second, 1 to [`MAX_FPS`].
    pub fps: u32,
    /// `--serious`.
    pub serious: bool,
}

/// The frame rate without `--fps`.
const DEFAULT_FPS: u32 = 10;

/// The highest frame rate: a terminal shows no more, and a frame that is due every
/// few nanoseconds would make the render thread spin.
const MAX_FPS: u32 = 60;

/// The live view's options when it is to be shown, `None` when it is not. `--fps`
/// and `--theme` are checked either way: a bad value is an error even where the view
/// would not be shown, so a script finds out before it runs in a terminal.
///
/// # Errors
/// A frame rate below 1, or a theme name that is not one of [`Theme`]'s keys.
pub fn options(args: &RunArgs) -> Result<Option<Options>, Error> {
    let fps = match args.fps {
        None => DEFAULT_FPS,
        Some(n) if n >= 1 => u32::try_from(n).unwrap_or(MAX_FPS).min(MAX_FPS),
        Some(n) => {
            return Err(Error::Setup(format!(
                "`--fps {n}` is not a frame rate; expected a whole number of frames per second, at least 1"
            )));
        }
    };
    let chosen = match &args.theme {
        None => Theme::Kaioken,
        Some(name) => Theme::from_key(name).ok_or_else(|| {
            let names: Vec<String> = Theme::CYCLE
                .iter()
                .chain([&Theme::Plain])
                .map(|t| format!("`{}`", t.key()))
                .collect();
            Error::Setup(format!(
                "unknown theme `{name}`; expected one of {}",
                names.join(", ")
            ))
        })?,
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = if args.serious || no_color {
        Theme::Plain
    } else {
        chosen
    };
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    // `-v` prints to the terminal while the run goes: no view over it.
    let shown =
        std::io::stdout().is_terminal() && !args.no_tui && !args.json && !args.verbose && !ci;
    Ok(shown.then_some(Options {
        theme,
        fps,
        serious: args.serious,
    }))
}

/// Whether this process's group is the foreground one of the terminal on stdout,
/// as a process that changes the terminal's mode and reads its keys must be.
#[cfg(unix)]
fn foreground() -> bool {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdout().as_raw_fd();
    // SAFETY: two queries, of a descriptor this process holds and of its own group.
    unsafe { libc::tcgetpgrp(fd) == libc::getpgrp() }
}

#[cfg(not(unix))]
fn foreground() -> bool {
    true
}

/// Whether a [`Screen`] has the terminal now (read by the panic hook).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leave the alternate screen and raw mode, once, if a [`Screen`] took them.
fn restore() {
    if ACTIVE.swap(false, Ordering::AcqRel) {
        let _ = crossterm::execute!(
            std::io::stdout(),
            LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// The terminal, in raw mode on the alternate screen while this lives.
pub struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Take the terminal: raw mode, the alternate screen, no cursor.
    ///
    /// # Errors
    /// The terminal cannot do it (a dumb terminal, raw mode refused); the terminal
    /// is left as it was.
    pub fn open() -> std::io::Result<Screen> {
        if std::env::var("TERM").is_ok_and(|t| t == "dumb") {
            return Err(std::io::Error::other("TERM is `dumb`"));
        }
        // Else the terminal stops the process (SIGTTOU) at the first change of
        // its mode, before anything is sent: `timeout kaioken …` is the common case.
        if !foreground() {
            return Err(std::io::Error::other(
                "kaioken is not the terminal's foreground process (started in the background, or under `timeout` without --foreground)",
            ));
        }
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        crossterm::terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::Release);
        let opened = crossterm::execute!(
            std::io::stdout(),
            EnterAlternateScreen,
            crossterm::cursor::Hide
        )
        .and_then(|()| Terminal::new(CrosstermBackend::new(std::io::stdout())));
        match opened {
            Ok(mut terminal) => {
                let _ = terminal.clear();
                Ok(Screen { terminal })
            }
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// What the view knows before the run: names from the program, words for the plan.
pub fn run_info(ir: &Ir, program: &kaioken_vm::Program, rule: &Redact) -> RunInfo {
    let target = crate::report::target(ir, rule);
    let load = &ir.load;
    RunInfo {
        // A WebSocket message or a gRPC call has no method of its own: its URL's
        // scheme says what it is.
        target: if target.url.starts_with("http") {
            format!("{} {}", target.method, target.url)
        } else {
            target.url
        },
        load: crate::plan_words(load).trim_end().to_owned(),
        open_model: load.arrival.is_some(),
        latency_correction: load.arrival.as_ref().is_some_and(|a| a.latency_correction),
        max_vus: u64::from(load.vus),
        target_rate: crate::report::target_rate(load),
        warmup: load.warmup,
        stages: load
            .stages
            .iter()
            .map(|s| Stage {
                duration: s.duration,
                target: s.target,
            })
            .collect(),
        // Checks of different steps may read alike: the step tells them apart.
        checks: (0..program.checks.len())
            .map(|i| {
                let id = kaioken_vm::CheckId::from_index(i);
                let step = program
                    .check_step(id)
                    .filter(|_| program.steps.len() > 1)
                    .map(|step| program.step(step).name.clone());
                CheckInfo {
                    step,
                    name: program.checks[i].name.clone(),
                }
            })
            .collect(),
        scenarios: program
            .scenarios
            .iter()
            .map(|s| ScenarioInfo {
                name: s.name.clone(),
                tags: s.tags.clone(),
            })
            .collect(),
        extractors: program.extractors.iter().map(|x| x.var.clone()).collect(),
    }
}

/// A verdict in the view's words: `scenario:order p99 < 500ms`, observed `47.2ms`.
fn threshold_line(v: &Verdict) -> ThresholdLine {
    let scope = if v.scope == "all" {
        String::new()
    } else {
        format!("{} ", v.scope)
    };
    let observed = crate::summary::observed(v).unwrap_or_else(|| "no data yet".to_owned());
    ThresholdLine {
        label: format!("{scope}{} {}", v.metric, v.threshold),
        observed,
        passed: v.passed,
    }
}

/// How long the main thread waits for the render thread once the run is over. The
/// render thread ends within a frame when it can; this bound is for a terminal that
/// hangs in a way the view did not see, so the report is never held up by it.
const RENDER_GRACE: Duration = Duration::from_secs(1);

/// Run `run` with the live view on `screen`: `run` is handed the `on_tick` that
/// feeds the render thread, and its result is returned once the terminal is
/// restored.
pub fn run<T>(
    screen: Screen,
    options: Options,
    ir: &Ir,
    plan: &Arc<RunPlan>,
    rule: &Redact,
    control: &Arc<Control>,
    run: impl FnOnce(&mut dyn FnMut(&Snapshot)) -> T,
) -> T {
    let mut info = run_info(ir, &plan.program, rule);
    if let Some(segment) = &plan.segment {
        // One part of a split run: its own VUs and rate, the whole run's plan named.
        info.load = format!("segment {segment} of {}", info.load);
        info.max_vus = segment.part(info.max_vus);
        info.target_rate = info.target_rate.map(|r| r * segment.share());
    }
    let (tx, rx) = mpsc::channel::<Snapshot>();
    let (back_tx, back_rx) = mpsc::channel::<Snapshot>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // The render thread owns what it reads, so the run's result never waits on it
    // longer than RENDER_GRACE: a terminal that hangs cannot hold the report back.
    let (ir, plan, control) = (Arc::new(ir.clone()), Arc::clone(plan), Arc::clone(control));
    let render = std::thread::Builder::new()
        .name("kaioken-view".into())
        .spawn(move || {
            render_loop(screen, &rx, &back_tx, options, &info, &control, |stats| {
                crate::report::judge_live(&ir, &plan.program, stats)
                    .iter()
                    .map(threshold_line)
                    .collect()
            });
            let _ = done_tx.send(());
        });
    // If the thread could not start, its closure (and the Screen) is dropped and
    // the terminal restored: the run goes on without a view.
    let mut on_tick = move |s: &Snapshot| {
        // The newest handed back; older ones (after the view stalled and then
        // drained several) are freed, not kept going round.
        let copy = match back_rx.try_iter().last() {
            Some(mut old) => {
                old.copy_from(s);
                old
            }
            None => s.clone(),
        };
        let _ = tx.send(copy);
    };
    let result = run(&mut on_tick);
    drop(on_tick);
    if let Ok(render) = render {
        match done_rx.recv_timeout(RENDER_GRACE) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let _ = render.join();
            }
            // The thread is stuck on the terminal: take the terminal back here and
            // leave the thread behind; the process ends without it.
            Err(RecvTimeoutError::Timeout) => restore(),
        }
    }
    result
}

/// What the terminal's input has, as the render thread waits for it.
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Bytes to read, or the wait ran out: let crossterm read what is there.
    Maybe,
    /// The terminal hung up (its window closed, the SSH session or tmux server
    /// went away): nothing will ever be read from it again.
    Gone,
}

/// The terminal the view reads keys from: stdin when it is one, else `/dev/tty`, as
/// crossterm chooses. On Windows there is none: crossterm reads the console's
/// input events, which do not spin when the console goes (Windows ends the process
/// then), so the view waits in crossterm's poll alone.
#[cfg(unix)]
struct Tty {
    fd: std::os::fd::RawFd,
    /// Keeps `/dev/tty` open when that is what is read.
    _file: Option<std::fs::File>,
}

#[cfg(unix)]
impl Tty {
    fn open() -> Option<Tty> {
        use std::os::fd::AsRawFd;
        if std::io::stdin().is_terminal() {
            return Some(Tty {
                fd: std::io::stdin().as_raw_fd(),
                _file: None,
            });
        }
        let file = std::fs::File::open("/dev/tty").ok()?;
        Some(Tty {
            fd: file.as_raw_fd(),
            _file: Some(file),
        })
    }

    /// Wait up to `timeout` for input. crossterm's reader spins forever on a
    /// terminal that hung up (each read returns nothing, and it reads again), so
    /// the view asks the kernel first and hands over to crossterm only when the
    /// terminal is still there.
    fn wait(&self, timeout: Duration) -> Input {
        let mut fds = [libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of one pollfd for the length given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, millis) };
        let gone = libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
        if n > 0 && fds[0].revents & gone != 0 {
            Input::Gone
        } else {
            Input::Maybe
        }
    }
}

/// A key event as the view's controls know it.
fn key_of(k: KeyEvent) -> Option<Key> {
    if k.kind != KeyEventKind::Press {
        return None;
    }
    match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Some(Key::CtrlC),
        KeyCode::Char(c) => Some(Key::Char(c)),
        KeyCode::Esc => Some(Key::Esc),
        _ => None,
    }
}

/// The render thread: until the sender is dropped, keep the latest snapshot
/// (handing the one it replaces `back`, unchanged, for the next copy), draw it at
/// `options.fps`, and react to keys and resizes.
fn render_loop(
    mut screen: Screen,
    rx: &Receiver<Snapshot>,
    back: &Sender<Snapshot>,
    options: Options,
    info: &RunInfo,
    control: &Control,
    judge: impl Fn(&kaioken_runtime::RunStats) -> Vec<ThresholdLine>,
) {
    let frame = Duration::from_secs(1) / options.fps;
    #[cfg(unix)]
    let tty = Tty::open();
    let mut controls = Controls::new(options.theme);
    let mut latest: Option<Snapshot> = None;
    let mut thresholds = Vec::new();
    let mut due = Instant::now();
    let mut dirty = true;
    loop {
        let mut fresh = false;
        loop {
            match rx.try_recv() {
                Ok(s) => {
                    if let Some(old) = latest.replace(s) {
                        let _ = back.send(old);
                    }
                    fresh = true;
                }
                Err(TryRecvError::Empty) => break,
                // The run is over: the caller restores the terminal and prints the
                // summary, which has the same numbers as the last snapshot.
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if let Some(s) = &latest {
            if fresh {
                thresholds = judge(&s.total);
                dirty = true;
            }
            let now = Instant::now();
            if dirty && now >= due {
                let view = View {
                    info,
                    snapshot: s,
                    thresholds: &thresholds,
                    controls: &controls,
                    serious: options.serious,
                };
                if screen
                    .terminal
                    .draw(|f| kaioken_tui::draw(f, &view))
                    .is_err()
                {
                    // The terminal went away; the run is not the view's to end.
                    return;
                }
                dirty = false;
                due = now + frame;
            }
        }
        // Until the frame is due when there is something to draw; otherwise a
        // frame's length, so a snapshot is picked up at most one frame late.
        let wait = if dirty {
            due.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        } else {
            frame
        };
        // A key wakes the wait early; a resize (a signal crossterm turns into an
        // event) is picked up when it ends, within a frame.
        #[cfg(unix)]
        let wait = match &tty {
            Some(tty) if tty.wait(wait) == Input::Gone => return,
            Some(_) => Duration::ZERO,
            None => wait,
        };
        match event::poll(wait) {
            Ok(true) => match event::read() {
                Ok(Event::Key(k)) => match key_of(k).map(|k| controls.press(k)) {
                    // As a signal does: the first stops sending and lets requests in
                    // flight finish; a second (key or signal) abandons them.
                    Some(Action::Stop) => control.interrupt(),
                    Some(Action::Redraw) => {
                        dirty = true;
                        due = Instant::now();
                    }
                    Some(Action::None) | None => {}
                },
                Ok(Event::Resize(..)) => {
                    let _ = screen.terminal.autoresize();
                    dirty = true;
                    due = Instant::now();
                }
                Ok(_) => {}
                Err(_) => return,
            },
            Ok(false) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_esc_and_letters() {
        let press = |code, modifiers| key_of(KeyEvent::new(code, modifiers));
        assert_eq!(
            press(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(
            press(KeyCode::Char('c'), KeyModifiers::NONE),
            Some(Key::Char('c'))
        );
        assert_eq!(press(KeyCode::Esc, KeyModifiers::NONE), Some(Key::Esc));
        assert_eq!(press(KeyCode::Up, KeyModifiers::NONE), None);
    }

    #[test]
    fn verdicts_in_the_views_words() {
        let v = Verdict {
            scope: "scenario:order".into(),
            metric: "p99".into(),
            threshold: "< 500ms".into(),
            observed: Some(47.25),
            unit: "ms".into(),
            passed: true,
        };
        let line = threshold_line(&v);
        assert_eq!(line.label, "scenario:order p99 < 500ms");
        assert_eq!(line.observed, "47.2ms");
        let v = Verdict {
            scope: "all".into(),
            metric: "error_rate".into(),
            threshold: "< 1%".into(),
            observed: None,
            unit: "ratio".into(),
            passed: false,
        };
        let line = threshold_line(&v);
        assert_eq!(line.label, "error_rate < 1%");
        assert_eq!(line.observed, "no data yet");
    }
}
