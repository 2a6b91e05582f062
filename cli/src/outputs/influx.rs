//! InfluxDB (`-o influxdb=http://HOST:PORT/DBNAME`, or `?org=O&bucket=B` for the v2
//! API): the latest metrics as line protocol, one point per series.
//!
//! ```text
//!   Metrics (outputs thread) ─► Influx::requests ─► lines, ms timestamps
//!        ─► POST /write?db=… (v1) or /api/v2/write?org=…&bucket=… (v2)
//!        ─► 2xx: Influx::confirm — the points need not be sent again
//! ```
//!
//! One measurement per family, named as the family without `_total`; the series'
//! labels are its tags. Counters and histograms write what grew since the previous
//! write (`count`, and `sum` for a histogram), so summing a measurement's `count`
//! over a run gives the report's total. A write not accepted is sent again, the
//! same points with the same timestamps, with the next: InfluxDB keeps one point
//! per series and timestamp, so a write it applied but whose answer was lost (a
//! timeout) is not counted twice. Gauges write `value`.

use std::collections::HashMap;

use super::metrics::{Kind, Metrics, Value};
use super::push::{Push, PushRequest, basic_auth, http_url, take_credentials};
use kaioken_runtime::Span;

const EXAMPLE: &str =
    "http://HOST:PORT/DBNAME (the v1 API), or http://HOST:PORT?org=ORG&bucket=BUCKET (the v2 API)";

/// A series: its family's name and its labels.
type Key = (&'static str, Vec<(String, String)>);

/// What a counter or histogram series had reached when it was last written.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Written {
    count: u64,
    sum: f64,
}

/// The most bytes of points kept for sending again: beyond (an InfluxDB down for
/// hours), the oldest are given up.
const UNSENT_LIMIT: usize = 8 << 20;

/// The InfluxDB encoder: where to write, what it has written, and what the server
/// has not accepted yet.
#[derive(Debug)]
pub struct Influx {
    url: String,
    authorization: Option<String>,
    /// Each counter and histogram series' values as of the last write made.
    written: HashMap<Key, Written>,
    /// The lines of every write not accepted yet, oldest first.
    unsent: String,
}

impl Influx {
    /// The output for `address`. `http://HOST:PORT/DBNAME` writes with the v1 API
    /// (a `user:password` in it is sent as basic authentication, which InfluxDB 1.x
    /// takes as it takes `u` and `p`, and which keeps it out of the URL); with `?org=O&bucket=B`
    /// and no path, with the v2 API, authenticated by `token`
    /// (`$KAIOKEN_INFLUXDB_TOKEN`) or else by the address's `user:password`.
    pub fn new(address: &str, token: Option<&str>) -> Result<Influx, String> {
        let mut url = http_url("influxdb", address, EXAMPLE)?;
        let credentials = take_credentials(&mut url);
        let mut org = None;
        let mut bucket = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "org" => org = Some(value.into_owned()),
                "bucket" => bucket = Some(value.into_owned()),
                other => {
                    return Err(format!(
                        "influxdb output: the address's query names `{other}`; it takes only org and bucket (the v2 API); write it as {EXAMPLE}"
                    ));
                }
            }
        }
        let path = url.path().trim_matches('/').to_owned();
        let (path, query, authorization) = match (org, bucket) {
            (None, None) => {
                if path.is_empty() {
                    return Err(format!(
                        "influxdb output: the address names no database; write it as {EXAMPLE}"
                    ));
                }
                // A prefix before the database's name is kept (a proxy's path).
                let (prefix, db) = match path.rsplit_once('/') {
                    Some((prefix, db)) => (format!("/{prefix}"), db),
                    None => (String::new(), path.as_str()),
                };
                let db = percent_encoding::percent_decode_str(db)
                    .decode_utf8_lossy()
                    .into_owned();
                let query = vec![("db", db), ("precision", "ms".to_owned())];
                let authorization =
                    credentials.map(|(user, password)| basic_auth(&user, &password));
                (format!("{prefix}/write"), query, authorization)
            }
            (Some(org), Some(bucket)) => {
                if !path.is_empty() {
                    return Err(format!(
                        "influxdb output: the v2 API (org and bucket in the address) takes no database in the path (`/{path}`); write it as {EXAMPLE}"
                    ));
                }
                let token = match (token, credentials) {
                    (Some(token), _) if !token.is_empty() => token.to_owned(),
                    // InfluxDB 1.8's v2 endpoint takes `user:password` as the token.
                    (_, Some((user, password))) => format!("{user}:{password}"),
                    _ => {
                        return Err(
                            "influxdb output: the v2 API (org and bucket in the address) needs a token: set KAIOKEN_INFLUXDB_TOKEN"
                                .to_owned(),
                        );
                    }
                };
                let query = vec![
                    ("org", org),
                    ("bucket", bucket),
                    ("precision", "ms".to_owned()),
                ];
                (
                    "/api/v2/write".to_owned(),
                    query,
                    Some(format!("Token {token}")),
                )
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(format!(
                    "influxdb output: the v2 API needs both org and bucket in the address; write it as {EXAMPLE}"
                ));
            }
        };
        url.set_path(&path);
        url.query_pairs_mut().clear().extend_pairs(query);
        Ok(Influx {
            url: url.to_string(),
            authorization,
            written: HashMap::new(),
            unsent: String::new(),
        })
    }
}

impl Push for Influx {
    fn requests(&mut self, metrics: &Metrics, _spans: &[Span]) -> Vec<PushRequest> {
        let mut body = String::new();
        for family in &metrics.families {
            let measurement = family.name.strip_suffix("_total").unwrap_or(family.name);
            for series in &family.series {
                let mut fields = String::new();
                match (&series.value, family.kind) {
                    (Value::Number(n), Kind::Gauge) => {
                        if !n.is_finite() {
                            continue;
                        }
                        fields = format!("value={n}");
                    }
                    (value, _) => {
                        let now = match value {
                            Value::Number(n) => Written {
                                count: *n as u64,
                                sum: 0.0,
                            },
                            Value::Histogram(h) => Written {
                                count: h.count,
                                sum: h.sum,
                            },
                        };
                        let key = (family.name, series.labels.clone());
                        let before = self.written.insert(key, now).unwrap_or_default();
                        let count = now.count.saturating_sub(before.count);
                        if count == 0 && !metrics.last {
                            continue;
                        }
                        fields.push_str(&format!("count={count}i"));
                        if let Value::Histogram(_) = value {
                            fields.push_str(&format!(",sum={}", (now.sum - before.sum).max(0.0)));
                        }
                    }
                }
                line(&mut body, measurement, &series.labels);
                body.push(' ');
                body.push_str(&fields);
                body.push_str(&format!(" {}\n", metrics.time_unix_ms));
            }
        }
        self.unsent.push_str(&body);
        if self.unsent.len() > UNSENT_LIMIT {
            let cut = self.unsent.len() - UNSENT_LIMIT;
            let cut = self.unsent[cut..]
                .find('\n')
                .map_or(self.unsent.len(), |i| cut + i + 1);
            self.unsent.drain(..cut);
        }
        if self.unsent.is_empty() {
            return Vec::new();
        }
        let mut headers = vec![("Content-Type", "text/plain; charset=utf-8".to_owned())];
        if let Some(authorization) = &self.authorization {
            headers.push(("Authorization", authorization.clone()));
        }
        vec![PushRequest {
            url: self.url.clone(),
            headers,
            body: self.unsent.clone().into_bytes(),
        }]
    }

    fn confirm(&mut self) {
        self.unsent.clear();
    }
}

/// A point's measurement and tags (sorted by key, as InfluxDB stores them; an
/// empty tag, which line protocol cannot carry, is left out).
fn line(out: &mut String, measurement: &str, labels: &[(String, String)]) {
    escape(out, measurement, &[',', ' ']);
    let mut tags: Vec<&(String, String)> = labels
        .iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in tags {
        out.push(',');
        escape(out, key, &[',', '=', ' ']);
        out.push('=');
        escape(out, value, &[',', '=', ' ']);
    }
}

/// `text` with a backslash before each of `special`; a line break, which no part
/// of a line can hold, becomes a (escaped) space.
fn escape(out: &mut String, text: &str, special: &[char]) {
    for c in text.chars() {
        let c = if c == '\n' || c == '\r' { ' ' } else { c };
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::metrics::{Buckets, Family, Series};

    /// A point as InfluxDB parses it.
    #[derive(Debug, PartialEq)]
    struct Point {
        measurement: String,
        tags: Vec<(String, String)>,
        fields: Vec<(String, String)>,
        time: u64,
    }

    /// Splits `s` at unescaped `sep`s, and unescapes the parts.
    fn split(s: &str, sep: char) -> Vec<String> {
        let mut parts = vec![String::new()];
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                parts.last_mut().unwrap().push(c);
                parts.last_mut().unwrap().push(chars.next().unwrap());
            } else if c == sep {
                parts.push(String::new());
            } else {
                parts.last_mut().unwrap().push(c);
            }
        }
        parts
    }

    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            out.push(if c == '\\' { chars.next().unwrap() } else { c });
        }
        out
    }

    fn pair(s: &str) -> (String, String) {
        let kv = split(s, '=');
        assert_eq!(kv.len(), 2, "{s}");
        (unescape(&kv[0]), unescape(&kv[1]))
    }

    fn parse(body: &[u8]) -> Vec<Point> {
        let body = std::str::from_utf8(body).unwrap();
        assert!(body.ends_with('\n'));
        body.lines()
            .map(|line| {
                let parts = split(line, ' ');
                assert_eq!(parts.len(), 3, "{line}");
                let series = split(&parts[0], ',');
                Point {
                    measurement: unescape(&series[0]),
                    tags: series[1..].iter().map(|t| pair(t)).collect(),
                    fields: split(&parts[1], ',').iter().map(|f| pair(f)).collect(),
                    time: parts[2].parse().unwrap(),
                }
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A run's metrics after `ok` 200s and `errors` errors, with a latency
    /// histogram of `ok` observations summing to `ok` ms.
    fn metrics(time: u64, ok: u64, errors: u64, last: bool) -> Metrics {
        let tags = [("run", "a b,c=d")];
        let with = |extra: &[(&str, &str)]| {
            let mut l = labels(&tags);
            l.extend(labels(extra));
            l
        };
        Metrics {
            time_unix_ms: time,
            last,
            families: vec![
                Family {
                    name: "kaioken_requests_total",
                    help: "",
                    kind: Kind::Counter,
                    series: vec![
                        Series {
                            labels: with(&[("status", "200")]),
                            value: Value::Number(ok as f64),
                        },
                        Series {
                            labels: with(&[("status", "error")]),
                            value: Value::Number(errors as f64),
                        },
                    ],
                },
                Family {
                    name: "kaioken_vus",
                    help: "",
                    kind: Kind::Gauge,
                    series: vec![Series {
                        labels: with(&[]),
                        value: Value::Number(4.0),
                    }],
                },
                Family {
                    name: "kaioken_request_duration_seconds",
                    help: "",
                    kind: Kind::Histogram,
                    series: vec![Series {
                        labels: with(&[]),
                        value: Value::Histogram(Buckets {
                            cumulative: vec![ok; 16],
                            count: ok,
                            sum: ok as f64 / 1000.0,
                        }),
                    }],
                },
            ],
        }
    }

    fn field<'a>(
        points: &'a [Point],
        measurement: &str,
        status: Option<&str>,
        name: &str,
    ) -> Option<&'a str> {
        let matching: Vec<&Point> = points
            .iter()
            .filter(|p| {
                p.measurement == measurement
                    && status.is_none_or(|s| p.tags.contains(&("status".to_owned(), s.to_owned())))
            })
            .collect();
        assert!(matching.len() <= 1, "{matching:?}");
        matching
            .first()
            .map(|p| p.fields.iter().find(|(k, _)| k == name).unwrap().1.as_str())
    }

    #[test]
    fn points_parse_back_with_escaped_tags_and_typed_fields() {
        let mut output = Influx::new("http://127.0.0.1:8086/kaioken", None).unwrap();
        let requests = output.requests(&metrics(1_700_000_000_123, 90, 3, false), &[]);
        assert_eq!(requests.len(), 1);
        let body = std::str::from_utf8(&requests[0].body).unwrap();
        assert!(
            body.starts_with(
                "kaioken_requests,run=a\\ b\\,c\\=d,status=200 count=90i 1700000000123\n"
            ),
            "{body}"
        );
        let points = parse(&requests[0].body);
        assert_eq!(points.len(), 4);
        assert_eq!(
            points[0],
            Point {
                measurement: "kaioken_requests".to_owned(),
                tags: labels(&[("run", "a b,c=d"), ("status", "200")]),
                fields: labels(&[("count", "90i")]),
                time: 1_700_000_000_123,
            }
        );
        assert_eq!(
            field(&points, "kaioken_requests", Some("error"), "count"),
            Some("3i")
        );
        assert_eq!(field(&points, "kaioken_vus", None, "value"), Some("4"));
        let histogram = points
            .iter()
            .find(|p| p.measurement == "kaioken_request_duration_seconds")
            .unwrap();
        assert_eq!(
            histogram.fields,
            labels(&[("count", "90i"), ("sum", "0.09")])
        );
    }

    #[test]
    fn names_and_tags_with_separators_are_escaped() {
        let mut out = String::new();
        line(
            &mut out,
            "a measurement,x",
            &labels(&[
                ("z", "last"),
                ("check", "status is 200,\nok"),
                ("k=1", "v"),
                ("empty", ""),
            ]),
        );
        assert_eq!(
            out,
            "a\\ measurement\\,x,check=status\\ is\\ 200\\,\\ ok,k\\=1=v,z=last"
        );
    }

    #[test]
    fn each_write_carries_what_grew_and_what_was_not_accepted() {
        let mut output = Influx::new("http://127.0.0.1:8086/kaioken", None).unwrap();
        let is_ok =
            |tags: &[(String, String)]| tags.iter().any(|(k, v)| k == "status" && v == "200");
        // The database: one point per series and timestamp, as InfluxDB keeps them.
        // (measurement, tags, time) → count.
        type Stored = HashMap<(String, Vec<(String, String)>, u64), u64>;
        let mut stored = Stored::new();
        let mut write =
            |output: &mut Influx, m: Metrics, stored_by_server: bool, accepted: bool| {
                let requests = output.requests(&m, &[]);
                let points = parse(&requests[0].body);
                if stored_by_server {
                    for p in points
                        .iter()
                        .filter(|p| p.measurement == "kaioken_requests")
                    {
                        let count = p.fields[0].1.trim_end_matches('i').parse().unwrap();
                        stored.insert((p.measurement.clone(), p.tags.clone(), p.time), count);
                    }
                }
                if accepted {
                    output.confirm();
                }
                let counts: Vec<(u64, String)> = points
                    .iter()
                    .filter(|p| p.measurement == "kaioken_requests" && is_ok(&p.tags))
                    .map(|p| (p.time, p.fields[0].1.clone()))
                    .collect();
                (counts, points)
            };

        let (counts, _) = write(&mut output, metrics(1_000, 90, 0, false), true, true);
        assert_eq!(counts, [(1_000, "90i".to_owned())]);
        // Refused: sent again, unchanged, with the next write's increase.
        let (counts, _) = write(&mut output, metrics(2_000, 100, 0, false), false, false);
        assert_eq!(counts, [(2_000, "10i".to_owned())]);
        // Applied, but its answer lost (a timeout): sent again, and stored once.
        let (counts, _) = write(&mut output, metrics(3_000, 120, 0, false), true, false);
        assert_eq!(
            counts,
            [(2_000, "10i".to_owned()), (3_000, "20i".to_owned())]
        );
        let (counts, points) = write(&mut output, metrics(3_500, 120, 0, false), true, true);
        assert_eq!(
            counts,
            [(2_000, "10i".to_owned()), (3_000, "20i".to_owned())]
        );
        let histogram = points
            .iter()
            .find(|p| p.measurement == "kaioken_request_duration_seconds" && p.time == 3_000)
            .unwrap();
        assert_eq!(histogram.fields[0], ("count".to_owned(), "20i".to_owned()));
        let sum: f64 = histogram.fields[1].1.parse().unwrap();
        assert!((sum - 0.02).abs() < 1e-9, "{sum}");
        // Nothing grew: no point for the counters (no errors ever, nor now), the
        // gauge still written.
        let (counts, points) = write(&mut output, metrics(4_000, 120, 0, false), true, true);
        assert_eq!(counts, []);
        assert_eq!(
            points
                .iter()
                .map(|p| p.measurement.as_str())
                .collect::<Vec<_>>(),
            ["kaioken_vus"]
        );
        // The last push writes every counter, even at zero.
        let (counts, points) = write(&mut output, metrics(5_000, 120, 0, true), true, true);
        assert_eq!(counts, [(5_000, "0i".to_owned())]);
        assert_eq!(
            field(&points, "kaioken_requests", Some("error"), "count"),
            Some("0i")
        );
        assert_eq!(points.len(), 4);
        // What the database sums is the report's total.
        let total: u64 = stored
            .iter()
            .filter(|((_, tags, _), _)| is_ok(tags))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(total, 120);
    }

    #[test]
    fn v1_takes_the_database_from_the_path_and_credentials_as_basic_auth() {
        let mut output = Influx::new(
            "http://ci:s%20cret@127.0.0.1:8086/load%20tests",
            Some("ignored"),
        )
        .unwrap();
        let request = &output.requests(&metrics(1, 1, 0, false), &[])[0];
        assert_eq!(
            request.url,
            "http://127.0.0.1:8086/write?db=load+tests&precision=ms"
        );
        assert_eq!(
            request.headers,
            vec![
                ("Content-Type", "text/plain; charset=utf-8".to_owned()),
                ("Authorization", basic_auth("ci", "s cret")),
            ]
        );
        let output = Influx::new("http://127.0.0.1:8086/influx/kaioken/", None).unwrap();
        assert_eq!(
            output.url,
            "http://127.0.0.1:8086/influx/write?db=kaioken&precision=ms"
        );
    }

    #[test]
    fn v2_takes_org_bucket_and_a_token() {
        let mut output =
            Influx::new("http://127.0.0.1:8086?org=my%20org&bucket=b", Some("t0k3n")).unwrap();
        let request = &output.requests(&metrics(1, 1, 0, false), &[])[0];
        assert_eq!(
            request.url,
            "http://127.0.0.1:8086/api/v2/write?org=my+org&bucket=b&precision=ms"
        );
        assert_eq!(
            request.headers[1],
            ("Authorization", "Token t0k3n".to_owned())
        );
        let output = Influx::new("http://ci:pw@127.0.0.1:8086/?org=o&bucket=b", None).unwrap();
        assert_eq!(output.authorization.as_deref(), Some("Token ci:pw"));
        assert_eq!(
            output.url,
            "http://127.0.0.1:8086/api/v2/write?org=o&bucket=b&precision=ms"
        );
    }

    #[test]
    fn a_bad_address_says_what_is_wrong() {
        let error = |address: &str| Influx::new(address, None).unwrap_err();
        assert_eq!(
            error("http://127.0.0.1:8086"),
            format!("influxdb output: the address names no database; write it as {EXAMPLE}")
        );
        assert_eq!(
            error("http://127.0.0.1:8086/db?bucket=b"),
            format!(
                "influxdb output: the v2 API needs both org and bucket in the address; write it as {EXAMPLE}"
            )
        );
        assert_eq!(
            error("http://127.0.0.1:8086/db?org=o&bucket=b"),
            format!(
                "influxdb output: the v2 API (org and bucket in the address) takes no database in the path (`/db`); write it as {EXAMPLE}"
            )
        );
        assert_eq!(
            error("http://127.0.0.1:8086?org=o&bucket=b"),
            "influxdb output: the v2 API (org and bucket in the address) needs a token: set KAIOKEN_INFLUXDB_TOKEN"
        );
        assert_eq!(
            error("http://127.0.0.1:8086/write?db=kaioken"),
            format!(
                "influxdb output: the address's query names `db`; it takes only org and bucket (the v2 API); write it as {EXAMPLE}"
            )
        );
        assert_eq!(
            error("udp://127.0.0.1:8089"),
            format!(
                "influxdb output: the address's scheme is `udp`, not http or https; write it as {EXAMPLE}"
            )
        );
    }
}
