//! Prometheus remote write 1.0 (`-o prometheus-rw=http://HOST:PORT/api/v1/write`):
//! the latest metrics as a protobuf `WriteRequest`, snappy block-compressed.
//!
//! ```text
//!   Metrics (outputs thread) ─► RemoteWrite::requests ─► WriteRequest (prost)
//!        ─► snappy (raw/block format) ─► POST by the outputs thread
//! ```
//!
//! Every push carries every series' cumulative value now, the way a scrape would
//! have read it, so a failed push loses nothing the next one does not carry.
//! Histograms become the `_bucket{le}`, `_sum` and `_count` series the text
//! format has; each series' labels are `__name__` and its own, sorted by name as
//! the protocol requires.

use super::metrics::{BUCKETS, Metrics, Value};
use super::push::{Push, PushRequest, basic_auth, http_url, take_credentials};
use kaioken_runtime::Span;

/// The messages of prometheus' `prompb/remote.proto` and `prompb/types.proto` this
/// output sends, with their field numbers there; exemplars, native histograms and
/// metadata are not sent.
mod prompb {
    /// `remote.proto`: `repeated TimeSeries timeseries = 1` (2 is reserved, 3 is
    /// metadata).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `types.proto`: `repeated Label labels = 1; repeated Sample samples = 2`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// `types.proto`: `string name = 1; string value = 2`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `types.proto`: `double value = 1; int64 timestamp = 2` (ms since the epoch).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

const EXAMPLE: &str = "http://HOST:PORT/api/v1/write";

/// The remote write encoder: where to post, and how to authenticate.
#[derive(Debug)]
pub struct RemoteWrite {
    url: String,
    authorization: Option<String>,
}

impl RemoteWrite {
    /// The output for `address`, the receiver's write URL. A `user:password` in it
    /// is sent as HTTP basic authentication.
    pub fn new(address: &str) -> Result<RemoteWrite, String> {
        let mut url = http_url("prometheus-rw", address, EXAMPLE)?;
        let authorization = take_credentials(&mut url).map(|(u, p)| basic_auth(&u, &p));
        Ok(RemoteWrite {
            url: url.to_string(),
            authorization,
        })
    }
}

impl Push for RemoteWrite {
    fn requests(&mut self, metrics: &Metrics, _spans: &[Span]) -> Vec<PushRequest> {
        use prost::Message;
        let body = write_request(metrics).encode_to_vec();
        // The block format fails only for an input over ~4 GiB; the series of one
        // run's metrics are a few kilobytes.
        let Ok(body) = snap::raw::Encoder::new().compress_vec(&body) else {
            return Vec::new();
        };
        let mut headers = vec![
            ("Content-Encoding", "snappy".to_owned()),
            ("Content-Type", "application/x-protobuf".to_owned()),
            ("X-Prometheus-Remote-Write-Version", "0.1.0".to_owned()),
        ];
        if let Some(authorization) = &self.authorization {
            headers.push(("Authorization", authorization.clone()));
        }
        vec![PushRequest {
            url: self.url.clone(),
            headers,
            body,
        }]
    }
}

/// The series of `metrics`, as a scrape of the text format would have them.
fn write_request(metrics: &Metrics) -> prompb::WriteRequest {
    let timestamp = i64::try_from(metrics.time_unix_ms).unwrap_or(i64::MAX);
    let mut timeseries = Vec::new();
    let mut push = |name: String, labels: &[(String, String)], le: Option<String>, value: f64| {
        let mut labels: Vec<prompb::Label> = std::iter::once(("__name__".to_owned(), name))
            .chain(labels.iter().cloned())
            .chain(le.map(|le| ("le".to_owned(), le)))
            .map(|(name, value)| prompb::Label { name, value })
            .collect();
        // Byte order, as the receiver compares them; `__name__` comes first unless
        // a label's name starts with a capital.
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        timeseries.push(prompb::TimeSeries {
            labels,
            samples: vec![prompb::Sample { value, timestamp }],
        });
    };
    for family in &metrics.families {
        for series in &family.series {
            match &series.value {
                Value::Number(n) => push(family.name.to_owned(), &series.labels, None, *n),
                Value::Histogram(h) => {
                    let bucket = format!("{}_bucket", family.name);
                    for (le, count) in BUCKETS.iter().zip(&h.cumulative) {
                        push(
                            bucket.clone(),
                            &series.labels,
                            Some(le.to_string()),
                            *count as f64,
                        );
                    }
                    push(
                        bucket,
                        &series.labels,
                        Some("+Inf".to_owned()),
                        h.count as f64,
                    );
                    push(format!("{}_sum", family.name), &series.labels, None, h.sum);
                    push(
                        format!("{}_count", family.name),
                        &series.labels,
                        None,
                        h.count as f64,
                    );
                }
            }
        }
    }
    prompb::WriteRequest { timeseries }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::metrics::{Buckets, Family, Kind, Series};
    use prost::Message;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn metrics() -> Metrics {
        let mut cumulative = vec![0; BUCKETS.len()];
        // Two observations under 1 ms, one more under 5 ms, one over 60 s.
        cumulative[1..].fill(2);
        cumulative[3..].fill(3);
        Metrics {
            time_unix_ms: 1_700_000_000_123,
            last: false,
            families: vec![
                Family {
                    name: "kaioken_requests_total",
                    help: "",
                    kind: Kind::Counter,
                    series: vec![
                        Series {
                            labels: labels(&[("run", "a"), ("status", "200")]),
                            value: Value::Number(90.0),
                        },
                        Series {
                            labels: labels(&[("run", "a"), ("status", "error")]),
                            value: Value::Number(3.0),
                        },
                    ],
                },
                Family {
                    name: "kaioken_vus",
                    help: "",
                    kind: Kind::Gauge,
                    series: vec![Series {
                        labels: labels(&[("run", "a"), ("Zone", "eu")]),
                        value: Value::Number(7.0),
                    }],
                },
                Family {
                    name: "kaioken_request_duration_seconds",
                    help: "",
                    kind: Kind::Histogram,
                    series: vec![Series {
                        labels: labels(&[("run", "a")]),
                        value: Value::Histogram(Buckets {
                            cumulative,
                            count: 4,
                            sum: 61.5,
                        }),
                    }],
                },
            ],
        }
    }

    /// What the receiver reads: the body snappy-decoded, then protobuf-decoded.
    fn decode(request: &PushRequest) -> prompb::WriteRequest {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&request.body)
            .unwrap();
        prompb::WriteRequest::decode(raw.as_slice()).unwrap()
    }

    fn label_pairs(series: &prompb::TimeSeries) -> Vec<(&str, &str)> {
        series
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    fn find<'a>(
        request: &'a prompb::WriteRequest,
        wanted: &[(&str, &str)],
    ) -> &'a prompb::TimeSeries {
        let matching: Vec<_> = request
            .timeseries
            .iter()
            .filter(|s| wanted.iter().all(|w| label_pairs(s).contains(w)))
            .collect();
        assert_eq!(matching.len(), 1, "{wanted:?} in {request:?}");
        matching[0]
    }

    #[test]
    fn series_decode_to_the_values_with_sorted_labels() {
        let mut output = RemoteWrite::new("http://127.0.0.1:9090/api/v1/write").unwrap();
        let requests = output.requests(&metrics(), &[]);
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.url, "http://127.0.0.1:9090/api/v1/write");
        assert_eq!(
            request.headers,
            vec![
                ("Content-Encoding", "snappy".to_owned()),
                ("Content-Type", "application/x-protobuf".to_owned()),
                ("X-Prometheus-Remote-Write-Version", "0.1.0".to_owned()),
            ]
        );
        let decoded = decode(request);
        // 2 request series, 1 gauge, 16 buckets + `+Inf` + `_sum` + `_count`.
        assert_eq!(decoded.timeseries.len(), 2 + 1 + 17 + 2);
        for series in &decoded.timeseries {
            assert_eq!(series.samples.len(), 1);
            assert_eq!(series.samples[0].timestamp, 1_700_000_000_123);
            let names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted, "{series:?}");
        }
        let ok = find(
            &decoded,
            &[("__name__", "kaioken_requests_total"), ("status", "200")],
        );
        assert_eq!(
            label_pairs(ok),
            vec![
                ("__name__", "kaioken_requests_total"),
                ("run", "a"),
                ("status", "200")
            ]
        );
        assert_eq!(ok.samples[0].value, 90.0);
        let errors = find(
            &decoded,
            &[("__name__", "kaioken_requests_total"), ("status", "error")],
        );
        assert_eq!(errors.samples[0].value, 3.0);
        // A capital sorts before the underscore.
        let vus = find(&decoded, &[("__name__", "kaioken_vus")]);
        assert_eq!(
            label_pairs(vus),
            vec![("Zone", "eu"), ("__name__", "kaioken_vus"), ("run", "a")]
        );
        assert_eq!(vus.samples[0].value, 7.0);
    }

    #[test]
    fn a_histogram_becomes_buckets_sum_and_count() {
        let mut output = RemoteWrite::new("http://127.0.0.1:9090/api/v1/write").unwrap();
        let decoded = decode(&output.requests(&metrics(), &[])[0]);
        let bucket = |le: &str| {
            find(
                &decoded,
                &[
                    ("__name__", "kaioken_request_duration_seconds_bucket"),
                    ("le", le),
                ],
            )
            .samples[0]
                .value
        };
        assert_eq!(bucket("0.0005"), 0.0);
        assert_eq!(bucket("0.001"), 2.0);
        assert_eq!(bucket("0.0025"), 2.0);
        assert_eq!(bucket("0.005"), 3.0);
        assert_eq!(bucket("1"), 3.0);
        assert_eq!(bucket("60"), 3.0);
        assert_eq!(bucket("+Inf"), 4.0);
        let les: Vec<String> = decoded
            .timeseries
            .iter()
            .flat_map(|s| &s.labels)
            .filter(|l| l.name == "le")
            .map(|l| l.value.clone())
            .collect();
        assert_eq!(
            les,
            [
                "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf"
            ]
        );
        let sum = find(
            &decoded,
            &[("__name__", "kaioken_request_duration_seconds_sum")],
        );
        assert_eq!(
            label_pairs(sum),
            vec![
                ("__name__", "kaioken_request_duration_seconds_sum"),
                ("run", "a")
            ]
        );
        assert_eq!(sum.samples[0].value, 61.5);
        let count = find(
            &decoded,
            &[("__name__", "kaioken_request_duration_seconds_count")],
        );
        assert_eq!(count.samples[0].value, 4.0);
        // Bucket labels sort `le` before `run`.
        let first = find(
            &decoded,
            &[
                ("__name__", "kaioken_request_duration_seconds_bucket"),
                ("le", "0.01"),
            ],
        );
        assert_eq!(
            label_pairs(first),
            vec![
                ("__name__", "kaioken_request_duration_seconds_bucket"),
                ("le", "0.01"),
                ("run", "a")
            ]
        );
    }

    #[test]
    fn credentials_in_the_address_become_basic_auth_and_leave_the_url() {
        let mut output = RemoteWrite::new("https://ci:p%40ss@127.0.0.1:9090/api/v1/write").unwrap();
        let request = &output.requests(&metrics(), &[])[0];
        assert_eq!(request.url, "https://127.0.0.1:9090/api/v1/write");
        // base64("ci:p@ss")
        assert_eq!(
            request.headers.last().unwrap(),
            &("Authorization", "Basic Y2k6cEBzcw==".to_owned())
        );
    }

    #[test]
    fn a_bad_address_says_what_is_wrong() {
        let no_scheme = "prometheus-rw output: the address does not start with http:// or \
                         https://; write it as http://HOST:PORT/api/v1/write";
        assert_eq!(
            RemoteWrite::new("127.0.0.1:9090/api/v1/write").unwrap_err(),
            no_scheme
        );
        assert_eq!(
            RemoteWrite::new("localhost:9090/api/v1/write").unwrap_err(),
            no_scheme
        );
        assert_eq!(
            RemoteWrite::new("ftp://127.0.0.1/x").unwrap_err(),
            "prometheus-rw output: the address's scheme is `ftp`, not http or https; \
             write it as http://HOST:PORT/api/v1/write"
        );
        assert_eq!(
            RemoteWrite::new("http://127.0.0.1:99999/api/v1/write").unwrap_err(),
            "prometheus-rw output: the address is not a URL (invalid port number); \
             write it as http://HOST:PORT/api/v1/write"
        );
    }
}
