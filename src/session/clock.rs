//! Who leads time: the `clock` command (MIDI clock out on the output port, clock in
//! followed from the input port) and `link` (Ableton Link peers), and what the session
//! asks of them (whether `tempo` is the clock's).

use crate::say;
#[cfg(feature = "link")]
use std::sync::Arc;
#[cfg(feature = "link")]
use std::time::Duration;

use super::stage::fail;
use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::Span;
use crate::lang::commands::stage as cmd;
use crate::lang::commands::Handle;
#[cfg(feature = "link")]
use crate::perform;
use crate::perform::ClockSource;
#[cfg(feature = "link")]
use crate::settings::Live;

/// How long `link on` waits for a first peer before it reports the session.
#[cfg(feature = "link")]
const LINK_LOOK: Duration = Duration::from_secs(1);

impl Handle<cmd::Clock> for Session {
    fn handle(&mut self, cmd: &cmd::Clock, span: Span) -> Result<(), Error> {
        match cmd {
            cmd::Clock::Turn { input: false, on } => {
                if *on && !self.ensure_output("no clock out")? {
                    return Ok(());
                }
                self.performer().clock_out(*on).map_err(fail(span))?;
                match on {
                    true => say!(self, "clock out: on (Start at the next bar line)"),
                    false => say!(self, "clock out: off"),
                }
                Ok(())
            }
            cmd::Clock::Turn { input: true, on } => {
                let p = self.performer();
                p.clock_in(*on).map_err(fail(span))?;
                let input = p.connections().1.unwrap_or_default();
                let state = p.clock_state();
                match (on, state.source) {
                    (true, ClockSource::ClockInWaiting) => say!(
                        self,
                        "clock in: following MIDI clock on {input} (no ticks yet)"
                    ),
                    (true, _) => say!(
                        self,
                        "clock in: following MIDI clock on {input} at {:.1} BPM",
                        state.tempo
                    ),
                    (false, _) => {
                        say!(
                            self,
                            "clock in: off; internal clock at {:.1} BPM",
                            state.tempo
                        )
                    }
                }
                Ok(())
            }
            cmd::Clock::Show => {
                let state = self.performer().clock_state();
                let leads = match state.source {
                    ClockSource::Internal => "internal clock".to_string(),
                    ClockSource::ClockIn => "MIDI clock in".to_string(),
                    ClockSource::ClockInWaiting => "MIDI clock in (no ticks yet)".to_string(),
                    ClockSource::ClockInSilent => {
                        "MIDI clock in (no ticks for a second: keeping the last tempo)".to_string()
                    }
                    ClockSource::External => "Ableton Link".to_string(),
                };
                // Before the first tick there is no tempo to show, only the old one.
                let tempo = match state.source {
                    ClockSource::ClockInWaiting => "with no tempo yet".to_string(),
                    _ => format!("at {:.2} BPM", state.tempo),
                };
                let transport = if state.running { "" } else { ", stopped" };
                let bar = self.bar_beats();
                let beat = state.beat.max(0.0);
                say!(
                    self,
                    "clock: {leads} {tempo}{transport}, bar {} beat {:.2} ({}); clock out {}",
                    (beat / bar).floor() as i64 + 1,
                    beat.rem_euclid(bar) + 1.0,
                    self.settings.meter,
                    if state.clock_out { "on" } else { "off" }
                );
                Ok(())
            }
        }
    }
}

impl Handle<cmd::Link> for Session {
    fn handle(&mut self, cmd: &cmd::Link, span: Span) -> Result<(), Error> {
        self.link_command(cmd.on, span)
    }
}

impl Session {
    #[cfg(not(feature = "link"))]
    fn link_command(&mut self, on: Option<bool>, span: Span) -> Result<(), Error> {
        match on {
            Some(true) => Err(Error::new(span, ErrorKind::LinkNotBuilt)),
            // Off is what it already is; a script that ends with `link off` still runs.
            Some(false) => {
                say!(self, "link: off");
                Ok(())
            }
            None => {
                say!(self, "link: off ({})", ErrorKind::LinkNotBuilt);
                Ok(())
            }
        }
    }

    #[cfg(feature = "link")]
    fn link_command(&mut self, on: Option<bool>, span: Span) -> Result<(), Error> {
        match on {
            Some(true) if self.stage.link.is_none() => {
                let m =
                    perform::link::Membership::join(self.settings.meter, self.shared_controls());
                // Peers answer within a fraction of a second (BENCHMARKS.md): waiting that
                // long lets the line below show the session joined rather than "0 peers"
                // and a tempo about to change.
                let deadline = std::time::Instant::now() + LINK_LOOK;
                while m.link().peers() == 0 && std::time::Instant::now() < deadline {
                    if self.interrupted() {
                        return Err(Error::new(span, ErrorKind::Interrupted));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let link: Arc<dyn perform::BeatSource> = m.link().clone();
                self.performer().set_external(Some(link));
                self.stage.link = Some(m);
                self.follow_link();
            }
            Some(false) => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.set_external(None);
                }
                self.stage.link = None;
            }
            _ => {}
        }
        self.link_status();
        Ok(())
    }

    /// `link: on, 1 peer, tempo 97, beat 13.52, 1.52 into a 4-beat bar`.
    #[cfg(feature = "link")]
    fn link_status(&mut self) {
        use crate::ground::text::fmt_number;
        use crate::perform::link::shown_tempo;
        use crate::perform::timeline::BeatSource;
        let Some(m) = &self.stage.link else {
            say!(self, "link: off");
            return;
        };
        let link = m.link();
        let now = std::time::Instant::now();
        let peers = match link.peers() {
            1 => "1 peer".to_string(),
            n => format!("{n} peers"),
        };
        let line = format!(
            "link: on, {peers}, tempo {}, beat {:.2}, {:.2} into a {}-beat bar",
            fmt_number(shown_tempo(link.tempo())),
            link.beat_at(now),
            link.phase_at(now),
            fmt_number(link.quantum()),
        );
        say!(self, "{line}");
    }

    /// While Link is on, the `tempo` setting shows the session's tempo, which a peer may
    /// have changed since the last command (the follower thread keeps the player's control
    /// current).
    pub(super) fn follow_link(&mut self) {
        #[cfg(feature = "link")]
        if let Some(m) = &self.stage.link {
            use crate::perform::timeline::BeatSource;
            let tempo = perform::link::shown_tempo(m.link().tempo());
            self.settings.set_live(Live::Tempo, tempo);
        }
    }

    /// Whether `tempo` follows MIDI clock in that sent no tick yet: `set` says so rather
    /// than show the tempo of an earlier run.
    pub(super) fn tempo_not_known_yet(&self) -> bool {
        self.stage
            .performer
            .as_ref()
            .is_some_and(|p| p.clock_state().source == ClockSource::ClockInWaiting)
    }

    /// Whether MIDI clock in leads: the tempo is the clock's, and `set tempo` changes nothing.
    pub(super) fn clock_in_leads(&self) -> bool {
        self.stage.performer.as_ref().is_some_and(|p| {
            !matches!(
                p.clock_state().source,
                ClockSource::Internal | ClockSource::External
            )
        })
    }
}
