//! Multipart bodies (`multipart = { … }`, `-F name=value`): a `multipart/form-data`
//! body (RFC 7578) lowered to one body template and its `content-type` header.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program). A field's
//! value is a template, so it may change per request; a value written `@path` is a
//! file, read here once and sent as is (`@@` writes a literal leading `@`). The
//! boundary is fixed at compile time and chosen so that no fixed byte of the body
//! contains it; values built at run time are not scanned (a collision with a
//! 28-character boundary is left to chance, as browsers leave it).

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::MultipartField;
use crate::located::Located;
use crate::{Part, Template};

/// A lowered multipart body: the template and the `content-type` that names its
/// boundary.
pub(super) struct Multipart {
    pub body: Template,
    pub content_type: String,
}

/// One part before the boundary is known: its head (after the boundary line) and its
/// content.
struct Piece {
    head: String,
    content: Template,
}

impl Lowerer<'_> {
    /// Lower `fields` to a body; `None` (with errors reported) when a value does not
    /// parse or a file cannot be read.
    pub(super) fn multipart(&mut self, fields: &[MultipartField]) -> Option<Multipart> {
        let mut pieces = Vec::with_capacity(fields.len());
        let mut ok = true;
        for field in fields {
            let name = quote(&field.name.value);
            match field.value.value.strip_prefix('@') {
                Some(path) if !path.starts_with('@') => {
                    let located = Located {
                        value: path.to_owned(),
                        loc: field.value.loc.clone(),
                    };
                    let folded = self.fold_env(&located);
                    let resolved = self.resolve_path(&folded, &field.value.loc);
                    match std::fs::read(&resolved) {
                        Ok(bytes) => {
                            let file_name = resolved
                                .file_name()
                                .map(|f| f.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            pieces.push(Piece {
                                head: format!(
                                    "content-disposition: form-data; name=\"{name}\"; \
                                     filename=\"{}\"\r\ncontent-type: {}\r\n",
                                    quote(&file_name),
                                    media_type(&file_name)
                                ),
                                content: Template::literal(bytes),
                            });
                        }
                        Err(e) => {
                            let kind = CompileErrorKind::Io {
                                path: resolved.display().to_string(),
                                message: e.to_string(),
                            };
                            self.errors
                                .push(CompileError::at(kind, &field.value.loc, None));
                            ok = false;
                        }
                    }
                }
                rest => {
                    // `@@x` is the text `@x`.
                    let value = match rest {
                        Some(escaped) => Located {
                            value: escaped.to_owned(),
                            loc: field.value.loc.clone(),
                        },
                        None => field.value.clone(),
                    };
                    match self.template(&value) {
                        Some(content) => pieces.push(Piece {
                            head: format!("content-disposition: form-data; name=\"{name}\"\r\n"),
                            content,
                        }),
                        None => ok = false,
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        let boundary = boundary(&pieces);
        let mut body = Template::default();
        for piece in pieces {
            body.push_lit(format!("--{boundary}\r\n{}\r\n", piece.head).as_bytes());
            for part in piece.content.parts {
                match part {
                    Part::Lit(bytes) => body.push_lit(&bytes),
                    other => body.parts.push(other),
                }
            }
            body.push_lit(b"\r\n");
        }
        body.push_lit(format!("--{boundary}--\r\n").as_bytes());
        Some(Multipart {
            body,
            content_type: format!("multipart/form-data; boundary={boundary}"),
        })
    }
}

/// A name for a `content-disposition` parameter: `"`, CR and LF percent-encoded, as
/// RFC 7578 §4.2 and browsers do.
fn quote(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A boundary no fixed byte of the parts contains: `kaioken-` and 20 hex digits of a
/// hash of the parts, rehashed until it is absent.
fn boundary(pieces: &[Piece]) -> String {
    let fixed: Vec<&[u8]> = pieces
        .iter()
        .flat_map(|p| {
            std::iter::once(p.head.as_bytes()).chain(p.content.parts.iter().filter_map(|part| {
                match part {
                    Part::Lit(bytes) => Some(bytes.as_slice()),
                    _ => None,
                }
            }))
        })
        .collect();
    // FNV-1a over the fixed bytes: deterministic, so a dump shows the same body twice.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for bytes in &fixed {
        for &b in *bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    loop {
        let candidate = format!("kaioken-{hash:016x}{:04x}", hash >> 48);
        let finder = memchr::memmem::Finder::new(candidate.as_bytes());
        if fixed.iter().all(|bytes| finder.find(bytes).is_none()) {
            return candidate;
        }
        hash = hash.wrapping_mul(0x0100_0000_01b3).wrapping_add(1);
    }
}

/// The media type of a file part, from its name's extension.
fn media_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use crate::lower::tests::{errors, ok, text};

    /// Fields in name order, each a part with its disposition; a template value stays
    /// a template; the boundary is in the content type and closes the body.
    #[test]
    fn fields_become_parts() {
        let ir = ok(r#"
            [target]
            url = "http://h/upload"
            [request]
            multipart = { name = "vu ${VU}", "say \"hi\"" = "@@at" }
        "#);
        let step = &ir.scenarios[0].steps[0];
        assert_eq!(step.method, "POST");
        let (_, content_type) = step
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .expect("content-type");
        let content_type = text(content_type);
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .expect("a boundary");
        assert_eq!(boundary.len(), 28);
        assert_eq!(
            text(step.body.as_ref().unwrap()),
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"name\"\r\n\r\nvu ${{VU}}\r\n\
                 --{boundary}\r\ncontent-disposition: form-data; name=\"say %22hi%22\"\r\n\r\n@at\r\n\
                 --{boundary}--\r\n"
            )
        );
    }

    #[test]
    fn conflicts_and_missing_files_are_located() {
        assert_eq!(
            errors(
                r#"
[target]
url = "http://h/"
[request]
body = "x"
multipart = { a = "b" }
"#
            ),
            [
                "5:13 [{ a = \"b\" }] `body`, `body_file` and `multipart` cannot be used together: give one"
            ]
        );
        assert_eq!(
            errors(
                r#"
[target]
url = "http://h/"
[request]
headers = { "Content-Type" = "text/plain" }
multipart = { a = "b" }
"#
            ),
            [
                "4:31 [text/plain] invalid header: `content-type` is set by `multipart`, with its boundary"
            ]
        );
        let missing = errors(
            r#"
[target]
url = "http://h/"
[request]
multipart = { f = "@no-such-file.bin" }
"#,
        );
        assert_eq!(missing.len(), 1);
        assert!(
            missing[0].starts_with("4:20 [@no-such-file.bin] cannot read `no-such-file.bin`"),
            "{missing:?}"
        );
    }
}
