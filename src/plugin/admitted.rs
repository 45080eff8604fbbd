//! The debug line written for every client admitted. It is made on every CONNECT, and
//! Mosquitto drops debug lines unless `log_type debug` is set, without telling plugins
//! which lines it keeps: so the line is described here, and a broker may hand its parts
//! to its own printf, which formats them only when the line is kept.

use std::fmt;

use crate::token::{is_log_safe, sanitize};

use super::LOG_PREFIX;

pub struct Admitted<'a> {
    pub client_id: &'a [u8],
    pub user: &'a str,
    /// Seconds from now to the token's expiry, as in [`Lifetime`].
    pub expires_in: Option<f64>,
    /// Client states the plugin holds, this one included.
    pub held: usize,
}

/// The parts of an [`Admitted`] line whose text needs no change: its client id and user,
/// and its seconds to expiry as a whole number.
pub struct PlainParts<'a> {
    pub client_id: &'a [u8],
    pub user: &'a [u8],
    pub expires_in: Option<i64>,
    pub held: usize,
}

impl Admitted<'_> {
    /// The parts, when the line is exactly "client '{id}' authenticated as '{user}'"
    /// followed by "until {secs} s from now" or "without expiry", then
    /// "; {held} client states held" with the parts as they are: each name short printable
    /// ASCII ([`is_log_safe`]), and the seconds a whole number in range. `None` otherwise;
    /// the line must then be made by `Display`.
    pub fn plain_parts(&self) -> Option<PlainParts<'_>> {
        let expires_in = match self.expires_in {
            None => None,
            Some(seconds) => Some(whole_seconds(seconds)?),
        };
        (is_log_safe(self.client_id) && is_log_safe(self.user.as_bytes())).then_some(PlainParts {
            client_id: self.client_id,
            user: self.user.as_bytes(),
            expires_in,
            held: self.held,
        })
    }
}

/// `seconds` as `{:.0}` writes it (nearest, ties to even), when that is a whole number
/// from 1 to 10^15; outside that range a float prints differently (`-0`, exponents).
fn whole_seconds(seconds: f64) -> Option<i64> {
    let rounded = seconds.round_ties_even();
    (1.0..1e15).contains(&rounded).then_some(rounded as i64)
}

impl fmt::Display for Admitted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LOG_PREFIX}: client '{}' authenticated as '{}' {}; {} client states held",
            sanitize(&String::from_utf8_lossy(self.client_id)),
            sanitize(self.user),
            Lifetime(self.expires_in),
            self.held
        )
    }
}

/// How long a token still counts, for the log: seconds from now, or `None` for no `exp`.
pub struct Lifetime(pub Option<f64>);

impl Lifetime {
    pub fn until(expires_at: Option<f64>, now: f64) -> Lifetime {
        Lifetime(expires_at.map(|deadline| deadline - now))
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(seconds) = self.0 else {
            return f.write_str("without expiry");
        };
        // What `{:.0}` writes, but a float with a precision takes the exact path,
        // thousands of instructions; a whole number in range is printed as an integer.
        match whole_seconds(seconds) {
            Some(whole) => write!(f, "until {whole} s from now"),
            None => write!(f, "until {seconds:.0} s from now"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn as_formatted(seconds: f64) -> String {
        format!("until {seconds:.0} s from now")
    }

    #[test]
    fn lifetime_is_written_as_with_a_precision() {
        let edges = [
            0.0,
            -0.0,
            0.2,
            0.5,
            1.5,
            2.5,
            3.5,
            -0.4,
            -2.5,
            0.999_999,
            1e15 - 0.5,
            1e15,
            1e15 + 1.0,
            9.1e15,
            1e300,
            3599.5,
            3600.5,
            86_399.999,
        ];
        for seconds in edges {
            assert_eq!(
                Lifetime::until(Some(seconds), 0.0).to_string(),
                as_formatted(seconds)
            );
        }
        assert_eq!(Lifetime::until(None, 5.0).to_string(), "without expiry");
    }

    /// The line a printf given the plain parts writes (as the broker's
    /// `"...'%.*s' authenticated as '%.*s' until %lld s from now; %lu ..."` does).
    fn printed(parts: &PlainParts<'_>) -> String {
        let lifetime = match parts.expires_in {
            Some(seconds) => format!("until {seconds} s from now"),
            None => "without expiry".to_owned(),
        };
        format!(
            "{LOG_PREFIX}: client '{}' authenticated as '{}' {lifetime}; {} client states held",
            String::from_utf8_lossy(parts.client_id),
            String::from_utf8_lossy(parts.user),
            parts.held
        )
    }

    #[test]
    fn names_that_sanitizing_would_change_have_no_plain_parts() {
        let long = "x".repeat(65);
        for (id, user) in [
            ("a\nb", "alice"),
            ("c", "al\u{7f}ce"),
            ("c", "ålice"),
            (long.as_str(), "alice"),
            ("c\0", "alice"),
        ] {
            let line = Admitted {
                client_id: id.as_bytes(),
                user,
                expires_in: Some(60.0),
                held: 1,
            };
            assert!(line.plain_parts().is_none(), "{id:?} {user:?}");
        }
        let invalid = Admitted {
            client_id: b"\xff",
            user: "alice",
            expires_in: None,
            held: 1,
        };
        assert!(invalid.plain_parts().is_none());
    }

    proptest! {
        #[test]
        fn lifetime_is_written_as_with_a_precision_anywhere(
            deadline in prop_oneof![0.0..1e5, 0.0..2e15, any::<f64>()],
            now in prop_oneof![Just(0.0), 1.7e9..1.9e9],
        ) {
            let seconds = deadline - now;
            prop_assert_eq!(Lifetime::until(Some(deadline), now).to_string(), as_formatted(seconds));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The parts are given only when sanitizing changes neither name and the seconds
        /// print as a whole number, and always for short printable ASCII names; printing
        /// them gives the very line `Display` makes.
        #[test]
        fn plain_parts_print_the_same_line(
            id in prop_oneof![Just(String::new()), "[ -~]{0,66}", "\\PC{0,8}", ".{0,4}"],
            user in prop_oneof!["[ -~]{0,66}", ".{0,4}"],
            expires_in in proptest::option::of(prop_oneof![
                -1e3..1e5, 0.0..2e15, any::<f64>(), Just(0.5), Just(1.5), Just(-0.0)
            ]),
            held in 0usize..100_000,
        ) {
            let line = Admitted { client_id: id.as_bytes(), user: &user, expires_in, held };
            // Told by what the names and seconds print as, not by the code under test.
            let unchanged = |name: &str| sanitize(name) == name;
            let whole = expires_in.is_none_or(|s| {
                format!("{s:.0}").parse::<i64>().is_ok_and(|n| (1..1_000_000_000_000_000).contains(&n))
            });
            let ascii = |name: &str| {
                name.len() <= 64 && name.chars().all(|c| c == ' ' || c.is_ascii_graphic())
            };
            match line.plain_parts() {
                Some(parts) => {
                    prop_assert!(unchanged(&id) && unchanged(&user) && whole);
                    prop_assert_eq!(printed(&parts), line.to_string());
                }
                None => prop_assert!(!(ascii(&id) && ascii(&user) && whole)),
            }
        }
    }
}
