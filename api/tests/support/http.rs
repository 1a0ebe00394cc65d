//! What the HTTP tests share: the reply triple and the RFC 9457 problem check.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

/// A response: status, headers and the body as JSON (a string if it is not JSON).
pub type Reply = (StatusCode, HeaderMap, Value);

/// Asserts an RFC 9457 problem of `status` and type slug `slug` (or `about:blank`) with a
/// title and a detail; returns the body.
#[track_caller]
pub fn assert_problem(got: &Reply, status: u16, slug: &str) -> Value {
    let (s, headers, body) = got;
    assert_eq!(s.as_u16(), status, "{body}");
    assert_eq!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        "application/problem+json",
        "{body}"
    );
    let type_uri = body["type"].as_str().unwrap_or("");
    if slug == "about:blank" {
        assert_eq!(type_uri, "about:blank", "{body}");
    } else {
        assert_eq!(type_uri, format!("urn:gridproof:problem:{slug}"), "{body}");
    }
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body.clone()
}
