//! The fields of a `multipart/form-data` body (RFC 7578), for validation: each part's name and
//! its content as text. Files are text too: a schema can only ask for a string there.

/// The fields of `body`, whose boundary is in `content_type`; `None` when it is not multipart
/// as declared.
pub(crate) fn fields(content_type: &str, body: &[u8]) -> Option<Vec<(String, String)>> {
    let boundary = content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })?;
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut parts = text.split(delimiter.as_str());
    // What comes before the first delimiter is a preamble.
    parts.next()?;
    let mut out = Vec::new();
    for part in parts {
        if part.starts_with("--") {
            return Some(out);
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, content) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))?;
        let name = head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            v.split(';').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim() == "name").then(|| v.trim().trim_matches('"').to_owned())
            })
        })?;
        let content = content
            .strip_suffix("\r\n")
            .or_else(|| content.strip_suffix('\n'))
            .unwrap_or(content);
        out.push((name, content.to_owned()));
    }
    // No closing delimiter: a truncated body.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_named_parts_and_refuses_truncated_bodies() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n12\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\nworld\r\n--XyZ--\r\n";
        let f = fields("multipart/form-data; boundary=XyZ", body.as_bytes()).unwrap();
        assert_eq!(
            f,
            vec![
                ("id".to_owned(), "12".to_owned()),
                ("file".to_owned(), "hello\nworld".to_owned())
            ]
        );
        assert!(fields("multipart/form-data; boundary=XyZ", &body.as_bytes()[..40]).is_none());
        assert!(fields("multipart/form-data", body.as_bytes()).is_none());
    }
}
