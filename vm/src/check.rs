//! Checks compiled for the response: every literal, substring finder and regex is
//! built once, when the program is compiled, and evaluation reads the response in
//! place without allocating.

use std::time::Duration;

use kaioken_grammar::CmpOp;
use memchr::memmem::Finder;
use regex::bytes::Regex;

/// What checks and extractors can read of an exchange's outcome, whatever the
/// protocol. The runtime implements it over the response head and (capped) body it
/// kept; tests implement it over plain values.
pub trait ResponseView {
    /// Whether a complete response arrived. When it did not (a refused connection, a
    /// timeout, a reset), every check fails and every extractor finds nothing.
    fn completed(&self) -> bool;
    /// The status's code, whatever the protocol (an HTTP status, a gRPC code, a
    /// WebSocket close code; see [`crate::Status`]); 0 without a response.
    fn status(&self) -> u16;
    /// From the first byte sent to the last byte received.
    fn duration(&self) -> Duration;
    /// The body, up to the configured limit.
    fn body(&self) -> &[u8];
    /// A header's value, the name matched case-insensitively; `None` if absent.
    fn header(&self, name: &[u8]) -> Option<&[u8]>;
}

/// A named check, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledCheck {
    /// Its name in reports (the expression's text unless one was given).
    pub name: String,
    /// The expression as written, canonicalised.
    pub text: String,
    /// The tree to evaluate.
    pub expr: CheckExpr,
}

/// A compiled check expression.
#[derive(Debug, Clone)]
pub enum CheckExpr {
    /// Any holds.
    Or(Vec<CheckExpr>),
    /// All hold.
    And(Vec<CheckExpr>),
    /// Does not hold.
    Not(Box<CheckExpr>),
    /// `status <op> n`.
    Status(CmpOp, u16),
    /// `status in [...]`, sorted.
    StatusIn(Box<[u16]>),
    /// `duration <op> t`.
    Duration(CmpOp, Duration),
    /// A text test on the body (`None`) or on a header (`Some(lowercase name)`).
    Text(Option<Box<[u8]>>, TextTest),
    /// `script:name`: the program's script runner judges (the interpreter calls it;
    /// [`CheckExpr::eval`] cannot, and answers `false`).
    Script(crate::ScriptId),
}

/// A test on text.
#[derive(Debug, Clone)]
pub enum TextTest {
    /// `contains "x"`.
    Contains(Box<Finder<'static>>),
    /// `matches "re"`.
    Matches(Regex),
    /// `== "x"` (`true`) or `!= "x"` (`false`).
    Equals(bool, Box<[u8]>),
}

impl CheckExpr {
    /// Whether the response passes. A missing header fails every test but `!=`.
    pub fn eval(&self, r: &impl ResponseView) -> bool {
        match self {
            CheckExpr::Or(items) => items.iter().any(|c| c.eval(r)),
            CheckExpr::And(items) => items.iter().all(|c| c.eval(r)),
            CheckExpr::Not(inner) => !inner.eval(r),
            CheckExpr::Status(op, n) => op.test(r.status(), *n),
            CheckExpr::StatusIn(set) => set.binary_search(&r.status()).is_ok(),
            CheckExpr::Duration(op, d) => op.test(r.duration(), *d),
            CheckExpr::Text(header, test) => {
                let text = match header {
                    None => Some(r.body()),
                    Some(name) => r.header(name),
                };
                match (test, text) {
                    (TextTest::Equals(eq, _), None) => !eq,
                    (_, None) => false,
                    (TextTest::Contains(f), Some(t)) => f.find(t).is_some(),
                    (TextTest::Matches(re), Some(t)) => re.is_match(t),
                    (TextTest::Equals(eq, want), Some(t)) => (t == &**want) == *eq,
                }
            }
            CheckExpr::Script(_) => false,
        }
    }

    /// What of the response evaluating reads.
    pub fn reads(&self) -> crate::Reads {
        match self {
            CheckExpr::Or(items) | CheckExpr::And(items) => items
                .iter()
                .fold(crate::Reads::default(), |all, c| all.union(c.reads())),
            CheckExpr::Not(inner) => inner.reads(),
            CheckExpr::Text(None, _) => crate::Reads::BODY,
            CheckExpr::Text(Some(_), _) => crate::Reads::HEAD,
            // A script may read anything of the response.
            CheckExpr::Script(_) => crate::Reads {
                head: true,
                body: true,
            },
            _ => crate::Reads::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Resp {
        status: u16,
        ms: u64,
        body: &'static [u8],
        headers: &'static [(&'static [u8], &'static [u8])],
    }

    impl ResponseView for Resp {
        fn completed(&self) -> bool {
            true
        }
        fn status(&self) -> u16 {
            self.status
        }
        fn duration(&self) -> Duration {
            Duration::from_millis(self.ms)
        }
        fn body(&self) -> &[u8] {
            self.body
        }
        fn header(&self, name: &[u8]) -> Option<&[u8]> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    #[test]
    fn evaluates_every_kind() {
        let r = Resp {
            status: 201,
            ms: 30,
            body: b"{\"ok\":true}",
            headers: &[(b"content-type", b"application/json")],
        };
        let yes = [
            CheckExpr::Status(CmpOp::Ge, 200),
            CheckExpr::StatusIn(vec![200, 201].into()),
            CheckExpr::Duration(CmpOp::Lt, Duration::from_millis(200)),
            CheckExpr::Text(
                None,
                TextTest::Contains(Box::new(Finder::new(b"\"ok\"").into_owned())),
            ),
            CheckExpr::Text(None, TextTest::Matches(Regex::new(r#"^\{.*\}$"#).unwrap())),
            CheckExpr::Text(
                Some(b"content-type".as_slice().into()),
                TextTest::Contains(Box::new(Finder::new(b"json").into_owned())),
            ),
            CheckExpr::Text(
                Some(b"x-missing".as_slice().into()),
                TextTest::Equals(false, b"x".as_slice().into()),
            ),
        ];
        for c in &yes {
            assert!(c.eval(&r), "{c:?}");
        }
        let no = [
            CheckExpr::Status(CmpOp::Eq, 200),
            CheckExpr::Not(Box::new(CheckExpr::Status(CmpOp::Eq, 201))),
            CheckExpr::Text(
                Some(b"x-missing".as_slice().into()),
                TextTest::Contains(Box::new(Finder::new(b"").into_owned())),
            ),
            CheckExpr::And(vec![
                CheckExpr::Status(CmpOp::Eq, 201),
                CheckExpr::Status(CmpOp::Eq, 500),
            ]),
        ];
        for c in &no {
            assert!(!c.eval(&r), "{c:?}");
        }
        assert!(CheckExpr::Or(no.to_vec()).eval(&r) == no.iter().any(|c| c.eval(&r)));
    }
}
