//! The dashboard (`GET /`) in a real headless Chromium against a running `pgveil serve`: the page
//! asks for a token, lists the job, and its buttons start tasks that the page follows to their end.

use serde_json::json;

use crate::support::serve::*;
use crate::support::webdriver::Browser;

/// A `#tasks` row of `kind` that has ended: its state (`null` while none has).
fn ended_task(kind: &str) -> String {
    format!(
        "const r = document.querySelector('#tasks tr[data-kind=\"{kind}\"]');
         return r && !['queued', 'running'].includes(r.dataset.state) ? r.dataset.state : null;"
    )
}

#[test]
fn the_dashboard_backs_up_and_verifies_a_job() {
    let db = source_db("dashboard", 300);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &job("shop", &db, ""), None);
    let page = server.get_as("/", None);
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("<title>pgveil</title>"), "{}", page.text);

    let browser = Browser::start();
    browser.open(&server.url("/"));
    // The API needs a token: the page asks for one before it shows anything.
    browser.wait_for(
        "the token form",
        "return !document.getElementById('login').hidden && document.getElementById('main').hidden",
    );

    // A read token lists the job; its "back up now" is refused, and says why.
    browser.type_into("#token", READ);
    browser.click("#login-button");
    browser.wait_for(
        "the job's row",
        "return document.querySelector('#jobs tr[data-job=\"shop\"]') !== null",
    );
    browser.click("#jobs tr[data-job=\"shop\"] button.backup-now");
    browser.wait_for(
        "the refusal",
        "return document.getElementById('message').textContent.includes('admin token')",
    );
    let tasks = server.get("/api/v1/tasks");
    assert_eq!(tasks.json["tasks"], json!([]), "{}", tasks.text);

    // An admin token: "back up now" starts a backup the page follows until it succeeds.
    browser.click("#logout");
    browser.type_into("#token", ADMIN);
    browser.click("#login-button");
    browser.click("#jobs tr[data-job=\"shop\"] button.backup-now");
    let state = browser.wait_for("the backup task to end", &ended_task("backup"));
    assert_eq!(state, "succeeded", "{}", server.log());
    let backups = server.get("/api/v1/jobs/shop/backups");
    let id = backups.json["backups"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no backup listed: {}", backups.text))
        .to_string();
    assert_eq!(backups.json["backups"][0]["state"], "complete");

    // The backup appears with its size; its "verify" starts a verification that succeeds.
    let row = format!("tr[data-backup=\"{id}\"][data-state=\"complete\"]");
    browser.wait_for(
        "the backup's row",
        &format!("return document.querySelector('[data-backups=\"shop\"] {row}') !== null"),
    );
    let shown = browser.eval(&format!("return document.querySelector('{row}').innerText"));
    assert!(shown.as_str().unwrap().contains("local"), "{shown}");
    browser.click(&format!("{row} button.verify"));
    let state = browser.wait_for("the verify task to end", &ended_task("verify"));
    assert_eq!(state, "succeeded", "{}", server.log());
    let verify = server.get("/api/v1/tasks?kind=verify");
    assert_eq!(
        verify.json["tasks"][0]["backup"],
        id.as_str(),
        "{}",
        verify.text
    );
    assert_eq!(verify.json["tasks"][0]["state"], "succeeded");
}
