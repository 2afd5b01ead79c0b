//! Static folders: content types, index.html, and no way out of the folder.

use crate::common::Mock;
use reqwest::StatusCode;

fn mock() -> Mock {
    let m = Mock::start(
        r#"
static:
  - { path: /app, dir: public }
routes:
  - { path: /app/api/version, response: { body: { version: 1 } } }
"#,
        &[
            ("public/index.html", b"<h1>home</h1>"),
            ("public/js/app.js", b"console.log(1)"),
            ("public/css/site.css", b"body{}"),
            ("public/docs/index.html", b"<h1>docs</h1>"),
            ("public/data/items.json", b"[1,2]"),
            ("secret.txt", b"top secret"),
        ],
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        m.dir.path().join("secret.txt"),
        m.dir.path().join("public/leak"),
    )
    .unwrap();
    m
}

#[tokio::test]
async fn serves_files_with_their_content_types() {
    let m = mock();
    for (path, content_type, body) in [
        ("/app/js/app.js", "text/javascript", "console.log(1)"),
        ("/app/css/site.css", "text/css", "body{}"),
        ("/app/data/items.json", "application/json", "[1,2]"),
        ("/app/", "text/html", "<h1>home</h1>"),
        ("/app/docs/", "text/html", "<h1>docs</h1>"),
        ("/app/docs/index.html", "text/html", "<h1>docs</h1>"),
    ] {
        let r = m.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        assert_eq!(r.text().await.unwrap(), body, "{path}");
    }
}

/// A folder without its trailing slash would serve its page with every relative link one
/// level off (`/app` + `style.css` is `/style.css`): it redirects to the folder instead.
#[tokio::test]
async fn a_folder_without_its_slash_redirects_to_it() {
    let m = mock();
    for (path, location) in [
        ("/app", "/app/"),
        ("/app/docs", "/app/docs/"),
        ("/app/docs?tab=2", "/app/docs/?tab=2"),
    ] {
        let r = m.get(path).await;
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_eq!(r.headers()["location"], location, "{path}");
    }
    // What a browser does with it.
    let browser = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = browser.get(m.at("/app/docs")).send().await.unwrap();
    assert_eq!(r.url().path(), "/app/docs/");
    assert_eq!(r.text().await.unwrap(), "<h1>docs</h1>");
}

#[tokio::test]
async fn routes_win_over_the_folder_and_missing_files_404() {
    let m = mock();
    let r = m.get("/app/api/version").await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["version"], 1);
    let r = m.get("/app/missing.js").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["near_misses"][0]["route"], "static[0]");
    assert_eq!(body["near_misses"][0]["failed"][0]["criterion"], "file");
}

#[tokio::test]
async fn no_escape_from_the_folder() {
    let m = mock();
    assert_eq!(
        m.raw_status("/app/js/app.js").await,
        200,
        "the raw client works"
    );
    for path in [
        "/app/../secret.txt",
        "/app/../api.yaml",
        "/app/%2e%2e/secret.txt",
        "/app/%2E%2E/%2e%2e/etc/passwd",
        "/app/..%2fsecret.txt",
        "/app/js/..%2f..%2fsecret.txt",
        "/app/..%5csecret.txt",
        "/app/..\\secret.txt",
        "/app/leak",
        "/app/%00",
    ] {
        assert_eq!(m.raw_status(path).await, 404, "{path} must not be served");
    }
}
