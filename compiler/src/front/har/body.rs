//! A recorded request's body, as a replay sends it.
//!
//! Part of the HAR front end (recording.har → entries → **Recording** → Draft or
//! TOML): recorders keep a body as `postData.text`, or only as form `params`; the
//! params are encoded back into a form body. A multipart body recorded without its
//! text cannot be rebuilt (the files are not in the recording) and is left out.

use std::ops::Range;

use super::{At, Notes, PostData, is_header_value};
use crate::located::Src;

/// A request body: what a replay sends, if anything.
pub(super) struct Body {
    /// Where `postData` is in the file.
    pub span: Range<usize>,
    /// The body text; `None` when the recording holds none that can be sent.
    pub text: Option<String>,
    /// The `content-type` it was sent with, to add when the headers have none.
    pub content_type: Option<String>,
    /// The text and each form value: what correlation must not mistake for values
    /// the server produced.
    pub sent: Vec<String>,
}

/// Read `postData`. A multipart body without its text is counted in `notes`.
pub(super) fn read(post: &At<'_, PostData<'_>>, src: &Src, notes: &mut Notes) -> Body {
    let span = post.span(&src.text);
    let p = &post.value;
    let mime = p.mime_type.as_deref().unwrap_or_default().to_owned();
    let params = p.params.as_deref().unwrap_or_default();
    let text = match p.text.as_deref() {
        Some(t) if !t.is_empty() => Some(t.to_owned()),
        _ if params.is_empty() => None,
        _ if params.iter().any(|p| p.file_name.is_some()) || mime.starts_with("multipart/") => {
            notes.multipart += 1;
            None
        }
        _ => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for p in params {
                form.append_pair(&p.name, p.value.as_deref().unwrap_or_default());
            }
            Some(form.finish())
        }
    };
    let mut sent = Vec::new();
    let mut content_type = None;
    if let Some(text) = &text {
        sent.push(text.clone());
        sent.extend(params.iter().filter_map(|p| p.value.clone()));
        let mime = if mime.is_empty() && p.text.as_deref().is_none_or(str::is_empty) {
            "application/x-www-form-urlencoded".to_owned()
        } else {
            mime
        };
        if !mime.is_empty() && is_header_value(&mime) {
            content_type = Some(mime);
        }
    }
    Body {
        span,
        text,
        content_type,
        sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_json(json: &str) -> (Body, Notes) {
        let src = Src::new("t.har", json);
        let post: At<'_, PostData<'_>> = serde_json::from_str(&src.text).unwrap();
        let mut notes = Notes::default();
        let body = read(&post, &src, &mut notes);
        assert_eq!(body.span, 0..json.len());
        (body, notes)
    }

    #[test]
    fn text_is_sent_as_recorded() {
        let (body, _) = read_json(r#"{"mimeType": "application/json", "text": "{\"a\":1}"}"#);
        assert_eq!(body.text.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(body.content_type.as_deref(), Some("application/json"));
        assert_eq!(body.sent, [r#"{"a":1}"#]);
    }

    #[test]
    fn form_params_are_encoded_back() {
        let (body, notes) = read_json(
            r#"{"params": [{"name": "user", "value": "a b"}, {"name": "token", "value": "x/y"}]}"#,
        );
        assert_eq!(body.text.as_deref(), Some("user=a+b&token=x%2Fy"));
        assert_eq!(
            body.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(body.sent, ["user=a+b&token=x%2Fy", "a b", "x/y"]);
        assert_eq!(notes.multipart, 0);
    }

    #[test]
    fn multipart_without_text_is_left_out() {
        let (body, notes) = read_json(
            r#"{"mimeType": "multipart/form-data; boundary=x", "params": [{"name": "f", "fileName": "a.png"}]}"#,
        );
        assert_eq!(body.text, None);
        assert_eq!(body.content_type, None);
        assert!(body.sent.is_empty());
        assert_eq!(notes.multipart, 1);
        let (body, notes) = read_json(r#"{"mimeType": "text/plain", "text": ""}"#);
        assert_eq!((body.text, notes.multipart), (None, 0));
    }
}
