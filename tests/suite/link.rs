//! Ableton Link (`link on|off`). With the `link` feature two real `tms` processes on this
//! machine join one Link session and share its tempo (`make test` runs them as `cargo test
//! --features link --test suite link::`); without it, `link on` says how to get Link.

#[cfg(not(feature = "link"))]
#[test]
fn without_the_link_feature_link_on_says_how_to_build_it() {
    use super::support::tms_c;
    let (_dir, run) = tms_c("link on");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("built without Ableton Link")
            && run.stderr.contains("make build FEATURES=link")
            && run.stderr.contains("GPL-2.0-or-later"),
        "{}",
        run.stderr
    );
    // Scripts parse and run the same in every build: off is what it already is.
    let (_dir, run) = tms_c("link off; link");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("link: off\nlink: off ("),
        "{}",
        run.stdout
    );
}

#[cfg(feature = "link")]
mod peers {
    use std::time::{Duration, Instant};

    use crate::support::Prompt;

    /// Why two processes here may not see each other, for the failure message.
    const WHY: &str = "Link peers on one machine find each other by UDP multicast to \
        224.76.78.75:20808 on every interface, the loopback one included: a machine whose \
        interfaces have no MULTICAST flag (`ip link`) or whose firewall drops that traffic \
        keeps them apart";

    /// Asks `link` until `ok` holds for the answer, or `within` passes.
    fn link_until(tms: &mut Prompt, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let line = tms.ask("link", "link: ");
            if ok(&line) || Instant::now() > deadline {
                return line;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn two_processes_share_a_tempo_and_the_second_adopts_the_first() {
        let mut first = Prompt::in_temp_dir();
        first.ask("set tempo 97", "tempo = 97");
        let joined = first.ask("link on", "link: on");
        assert!(joined.contains("tempo 97,"), "{joined}");

        // Link keeps the older of two sessions; ones started within half a second of each
        // other are ordered by their random ids instead. A second more makes the first older.
        std::thread::sleep(Duration::from_secs(1));
        let mut second = Prompt::in_temp_dir();
        second.ask("set tempo 140", "tempo = 140");
        let asked = Instant::now();
        let joined = second.ask("link on", "link: on");
        let discovery = asked.elapsed();
        let seen = if joined.contains("1 peer,") {
            joined.clone()
        } else {
            link_until(&mut second, Duration::from_secs(20), |l| {
                l.contains("1 peer,")
            })
        };
        assert!(seen.contains("1 peer,"), "no peer: {seen}\n{WHY}");
        println!(
            "link: `link on` answered in {:.3} s, {}",
            discovery.as_secs_f64(),
            if joined.contains("1 peer,") {
                "with its peer found"
            } else {
                "before its peer was found"
            }
        );
        assert!(
            seen.contains("tempo 97,"),
            "the second process keeps its own tempo instead of adopting the session's: {seen}"
        );
        // The `tempo` setting itself follows the session, as `help tempo` shows.
        assert_eq!(second.ask("help tempo", "  now:"), "  now: 97");
        // The session's beat leads the player: quantized starts wait for Link's bar.
        let clock = second.ask("clock", "clock: ");
        assert!(clock.contains("Ableton Link at 97.00 BPM"), "{clock}");

        // `set tempo` changes the session's tempo for every peer.
        second.ask("set tempo 100", "tempo = 100");
        let heard = link_until(&mut first, Duration::from_secs(20), |l| {
            l.contains("tempo 100,")
        });
        assert!(heard.contains("tempo 100,"), "{heard}");
        assert_eq!(first.ask("help tempo", "  now:"), "  now: 100");

        // Bar phases agree: both put one moment at one place in the 4-beat bar.
        let phase = |p: &mut Prompt| -> f64 {
            let line = p.ask("link", "link: on");
            let before = line.split(" into a").next().expect("a phase");
            before
                .rsplit(' ')
                .next()
                .expect("a number")
                .parse()
                .expect("phase")
        };
        let start = Instant::now();
        let a = phase(&mut first);
        let b = phase(&mut second);
        // The second answer came between 0 and `window` beats after the first (the asks
        // take turns), so its phase is that much further on, modulo the bar.
        let window = start.elapsed().as_secs_f64() * 100.0 / 60.0;
        let ahead = (b - a).rem_euclid(4.0);
        assert!(
            ahead <= window + 0.05 || ahead >= 4.0 - 0.05,
            "phases {a} then {b} disagree (at most {window:.3} beats apart)"
        );

        second.ask("link off", "link: off");
        // The internal clock takes over at the tempo the session had.
        let clock = second.ask("clock", "clock: ");
        assert!(clock.contains("internal clock at 100.00 BPM"), "{clock}");
        let alone = link_until(&mut first, Duration::from_secs(20), |l| {
            l.contains("0 peers,")
        });
        assert!(alone.contains("0 peers,"), "{alone}");
    }
}
