//! The small languages (templates, durations, checks, extractors, thresholds) on any
//! string: each parses or says where it went wrong, within the string, on character
//! boundaries (the compiler underlines the source with those spans); what parses
//! prints back as text that parses again.
#![no_main]

use kaioken_grammar::{
    Extractor, GrammarError, MAX_DURATION, Span, TemplatePart, format_duration, parse_check,
    parse_duration, parse_extractor, parse_template, parse_threshold,
};
use libfuzzer_sys::fuzz_target;

/// `span` is inside `input`, on character boundaries.
fn within(input: &str, span: Span, what: &dyn std::fmt::Display) {
    assert!(
        span.start <= span.end && span.end <= input.len(),
        "{what}: span {span:?} outside {input:?}"
    );
    assert!(
        input.is_char_boundary(span.start) && input.is_char_boundary(span.end),
        "{what}: span {span:?} splits a character of {input:?}"
    );
}

/// The error's span is inside `input` and its message and help can be printed.
fn located(input: &str, e: &GrammarError) {
    within(input, e.span, e);
    assert!(!e.to_string().is_empty());
    let _ = e.help();
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse_template(input) {
        Ok(t) => {
            for part in &t.parts {
                let (TemplatePart::Literal { span, .. } | TemplatePart::Var { span, .. }) = part;
                within(input, *span, &"a template part");
            }
        }
        Err(e) => located(input, &e),
    }
    match parse_duration(input) {
        Ok(d) => {
            assert!(d <= MAX_DURATION, "{input:?} is {d:?}");
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        Err(e) => located(input, &e),
    }
    match parse_check(input) {
        Ok(c) => {
            let text = c.to_string();
            if let Err(e) = parse_check(&text) {
                panic!("{input:?} printed as {text:?}, which does not parse: {e}");
            }
        }
        Err(e) => located(input, &e),
    }
    match parse_extractor(input) {
        Ok(Extractor::Json(spec) | Extractor::Regex(spec) | Extractor::Header(spec)) => {
            assert!(!spec.is_empty() && input.contains(spec.as_str()));
        }
        Ok(Extractor::Body) => assert_eq!(input, "body"),
        Ok(Extractor::Script(name)) => assert_eq!(input, format!("script:{name}")),
        Err(e) => located(input, &e),
    }
    match parse_threshold(input) {
        Ok(t) => {
            let text = t.to_string();
            if let Err(e) = parse_threshold(&text) {
                panic!("{input:?} printed as {text:?}, which does not parse: {e}");
            }
        }
        Err(e) => located(input, &e),
    }
});
