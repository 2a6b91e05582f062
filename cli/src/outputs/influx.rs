//! InfluxDB (`-o influxdb=http://HOST:PORT/DBNAME`, or `?org=O&bucket=B` for the v2
//! API): the latest metrics as line protocol, one point per series.
//!
//! ```text
//!   Metrics (outputs thread) ─► Influx::requests ─► lines, ms timestamps
//!        ─► POST /write?db=… (v1) or /api/v2/write?org=…&bucket=… (v2)
//!        ─► 2xx: Influx::confirm — the values written become the new baseline
//! ```
//!
//! One measurement per family, named as the family without `_total`; the series'
//! labels are its tags. Counters and histograms write what grew since the last
//! *accepted* write (`count`, and `sum` for a histogram), so summing a
//! measurement's `count` over a run gives the report's total, and a write that
//! failed is carried by the next one's increase. Gauges write `value`.

use std::collections::HashMap;

use super::metrics::{Kind, Metrics, Value};
use super::push::{Push, PushRequest, http_url, take_credentials};
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

/// The InfluxDB encoder: where to write, and what the server has accepted so far.
#[derive(Debug)]
pub struct Influx {
    url: String,
    authorization: Option<String>,
    /// Each series' values as of the last write the server accepted.
    confirmed: HashMap<Key, Written>,
    /// Each series' values in the last write made, accepted or not yet.
    pending: HashMap<Key, Written>,
}

impl Influx {
    /// The output for `address`. `http://HOST:PORT/DBNAME` writes with the v1 API
    /// (a `user:password` in it is sent as its `u` and `p`); with `?org=O&bucket=B`
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
                let mut query = vec![("db", db), ("precision", "ms".to_owned())];
                if let Some((user, password)) = credentials {
                    query.push(("u", user));
                    query.push(("p", password));
                }
                (format!("{prefix}/write"), query, None)
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
            confirmed: HashMap::new(),
            pending: HashMap::new(),
        })
    }
}

impl Push for Influx {
    fn requests(&mut self, metrics: &Metrics, _spans: &[Span]) -> Vec<PushRequest> {
        let mut body = String::new();
        self.pending.clear();
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
                        let before = self.confirmed.get(&key).copied().unwrap_or_default();
                        self.pending.insert(key, now);
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
        if body.is_empty() {
            return Vec::new();
        }
        let mut headers = vec![("Content-Type", "text/plain; charset=utf-8".to_owned())];
        if let Some(authorization) = &self.authorization {
            headers.push(("Authorization", authorization.clone()));
        }
        vec![PushRequest {
            url: self.url.clone(),
            headers,
            body: body.into_bytes(),
        }]
    }

    fn confirm(&mut self) {
        // Series the last write skipped (no increase) keep their baseline.
        self.confirmed.extend(self.pending.drain());
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
    fn each_write_carries_what_grew_since_the_last_accepted_one() {
        let mut output = Influx::new("http://127.0.0.1:8086/kaioken", None).unwrap();
        let mut written = 0;
        let mut write = |output: &mut Influx, m: Metrics, accepted: bool| {
            let requests = output.requests(&m, &[]);
            let points = parse(&requests[0].body);
            let count = field(&points, "kaioken_requests", Some("200"), "count").map(str::to_owned);
            if accepted {
                output.confirm();
                if let Some(n) = &count {
                    written += n.trim_end_matches('i').parse::<u64>().unwrap();
                }
            }
            (count, points)
        };

        let (count, _) = write(&mut output, metrics(1_000, 90, 0, false), true);
        assert_eq!(count.as_deref(), Some("90i"));
        // Not accepted: the next write carries these 10 too.
        let (count, _) = write(&mut output, metrics(2_000, 100, 0, false), false);
        assert_eq!(count.as_deref(), Some("10i"));
        let (count, points) = write(&mut output, metrics(3_000, 120, 0, false), true);
        assert_eq!(count.as_deref(), Some("30i"));
        let histogram = points
            .iter()
            .find(|p| p.measurement == "kaioken_request_duration_seconds")
            .unwrap();
        assert_eq!(
            histogram.fields,
            labels(&[("count", "30i"), ("sum", "0.03")])
        );
        // Nothing grew: no point for the counters (no errors ever, nor now), the
        // gauge still written.
        let (count, points) = write(&mut output, metrics(4_000, 120, 0, false), true);
        assert_eq!(count, None);
        assert_eq!(
            points
                .iter()
                .map(|p| p.measurement.as_str())
                .collect::<Vec<_>>(),
            ["kaioken_vus"]
        );
        // The last push writes every counter, even at zero.
        let (count, points) = write(&mut output, metrics(5_000, 120, 0, true), true);
        assert_eq!(count.as_deref(), Some("0i"));
        assert_eq!(
            field(&points, "kaioken_requests", Some("error"), "count"),
            Some("0i")
        );
        assert_eq!(points.len(), 4);
        // What the database sums is the report's total.
        assert_eq!(written, 120);
    }

    #[test]
    fn v1_takes_the_database_from_the_path_and_credentials_as_u_and_p() {
        let mut output = Influx::new(
            "http://ci:s%20cret@127.0.0.1:8086/load%20tests",
            Some("ignored"),
        )
        .unwrap();
        let request = &output.requests(&metrics(1, 1, 0, false), &[])[0];
        assert_eq!(
            request.url,
            "http://127.0.0.1:8086/write?db=load+tests&precision=ms&u=ci&p=s+cret"
        );
        assert_eq!(
            request.headers,
            vec![("Content-Type", "text/plain; charset=utf-8".to_owned())]
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
