//! `report.html` and `plan.html` in a real browser: the built `drsim` writes the report of a scenario with
//! a recovery plan (and the plan of a sweep over it), headless Chromium loads the page, and
//! - with `--dump-dom`, the page's own check (its inline script, on load) must have found every chart
//!   (report: `rpo`, `throughput`, `backlog`, `jobs`; plan: `compliance`, `rpo`, `failback`, `ps`) laid
//!   out with an `<svg>` of non-zero size that has content — `<body data-charts-ok="4"
//!   data-charts-drawn="…">` in the DOM Chromium dumps — and Chromium's log must hold no console message
//!   at all (Chromium logs every console message, errors and uncaught exceptions included, as
//!   `INFO:CONSOLE…` whatever its level; the pages log nothing);
//! - a screenshot goes to `reports/report-screenshot.png` (`reports/plan-screenshot.png`; CI keeps
//!   `reports/`).
//!
//! A second test breaks a copy of the page (a chart without its drawing, a script that throws) and checks
//! that the same checks catch it.
//!
//! Without Chromium (`/usr/bin/chromium`, or `DRSIM_CHROMIUM`) the tests say so and pass, unless
//! `DRSIM_BROWSER_TEST=required` (CI sets it; `.ci/run` installs Chromium). Each browser run is killed
//! after 60 s.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const REPORT_CHARTS: [&str; 4] = ["rpo", "throughput", "backlog", "jobs"];
const PLAN_CHARTS: [&str; 4] = ["compliance", "rpo", "failback", "ps"];
const SCENARIO: &str = "scenarios/tutorial/03-recovery-plan-groups.json";
const TIMEOUT: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium, or None (after saying why) when the test may be skipped.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("DRSIM_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        return Some(path);
    }
    let required = std::env::var("DRSIM_BROWSER_TEST").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "DRSIM_BROWSER_TEST=required but there is no Chromium at {} (apt-get install chromium)",
        path.display()
    );
    eprintln!(
        "note: no Chromium at {}: the report page's browser check is skipped \
         (install the `chromium` package, or set DRSIM_CHROMIUM; DRSIM_BROWSER_TEST=required makes this fail)",
        path.display()
    );
    None
}

/// `drsim run -q SCENARIO --report DIR`; the page's path.
fn write_report(dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_drsim"))
        .current_dir(repo_root())
        .args(["run", "-q", SCENARIO, "--report"])
        .arg(dir)
        .output()
        .expect("drsim runs");
    assert!(
        out.status.success(),
        "drsim run: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("report.html");
    assert!(page.is_file(), "no {}", page.display());
    page
}

/// `drsim plan SCENARIO` over 20 Mbps..1 Gbps (4 steps) × 1..2 process servers into `dir`; the page's path.
fn write_plan(dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_drsim"))
        .current_dir(repo_root())
        .args([
            "plan",
            SCENARIO,
            "--bandwidth",
            "20Mbps..1Gbps",
            "--bandwidth-steps",
            "4",
            "--process-servers",
            "1..2",
            "-o",
        ])
        .arg(dir)
        .output()
        .expect("drsim runs");
    assert!(
        out.status.success(),
        "drsim plan: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("plan.html");
    assert!(page.is_file(), "no {}", page.display());
    page
}

/// What one Chromium run printed.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs headless Chromium on `page` with `extra` flags and a fresh profile in `work`; killed (with its
/// whole process group) after [`TIMEOUT`]. Output goes to files: a page's DOM is more than a pipe holds.
fn chromium_run(browser: &Path, work: &Path, name: &str, page: &Path, extra: &[&str]) -> Run {
    let profile = work.join(format!("profile-{name}"));
    let (out_path, err_path) = (
        work.join(format!("{name}.out")),
        work.join(format!("{name}.err")),
    );
    let started = Instant::now();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if started.elapsed() > TIMEOUT {
            // the browser and its helpers share the process group started above
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ({name}) still running after {TIMEOUT:?}; its log:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        status,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// The value of attribute `name` on the dumped DOM's `<body>`.
fn body_attr<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let body = &dom[dom.find("<body")?..];
    let tag = &body[..body.find('>')?];
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// Loads the page with `--dump-dom`; the problems found (none: every one of `charts` drawn, no console
/// message).
fn browser_problems(
    browser: &Path,
    work: &Path,
    name: &str,
    page: &Path,
    charts: &[&str],
) -> Vec<String> {
    let run = chromium_run(
        browser,
        work,
        name,
        page,
        &["--enable-logging=stderr", "--v=0", "--dump-dom"],
    );
    eprintln!("chromium --dump-dom ({name}): {:.1?}", run.took);
    let mut problems = Vec::new();
    if !run.status.success() {
        problems.push(format!("chromium exited with {}", run.status));
    }
    // "[pid:tid:time:INFO:CONSOLE:12] "msg", source: file://… (12)" (older: "INFO:CONSOLE(12)")
    for line in run.stderr.lines() {
        if line.contains(":CONSOLE") || line.contains("Uncaught") {
            problems.push(format!("console: {line}"));
        }
    }
    let dom = &run.stdout;
    if !dom.contains("</html>") {
        problems.push(format!("no DOM dumped; chromium's log:\n{}", run.stderr));
        return problems;
    }
    let want = charts.len().to_string();
    match body_attr(dom, "data-charts-ok") {
        Some(n) if n == want => {}
        other => problems.push(format!(
            "<body data-charts-ok> is {other:?}, not \"{want}\": the page's check found fewer charts drawn"
        )),
    }
    let drawn: Vec<&str> = body_attr(dom, "data-charts-drawn")
        .unwrap_or_default()
        .split(' ')
        .collect();
    for &id in charts {
        if !dom.contains(&format!("<figure class=\"chart\" id=\"{id}\">")) {
            problems.push(format!("chart `{id}` is not in the DOM"));
        }
        if !drawn.contains(&id) {
            problems.push(format!(
                "chart `{id}`: no <svg> of non-zero size with content"
            ));
        }
    }
    problems
}

/// A screenshot of `page`, `height` pixels tall, to `reports/NAME` (CI keeps `reports/`).
fn screenshot(browser: &Path, work: &Path, page: &Path, name: &str, height: u32) {
    let reports = repo_root().join("reports");
    fs::create_dir_all(&reports).expect("reports/");
    let shot = reports.join(name);
    let _ = fs::remove_file(&shot);
    let run = chromium_run(
        browser,
        work,
        &format!("screenshot-{name}"),
        page,
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size=1400,{height}"),
            "--hide-scrollbars",
        ],
    );
    eprintln!("chromium --screenshot: {:.1?}", run.took);
    let png = fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}); chromium {}:\n{}",
            shot.display(),
            run.status,
            run.stderr
        )
    });
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{} is no screenshot of the page ({} bytes)",
        shot.display(),
        png.len()
    );
}

#[test]
fn the_report_page_renders_in_chromium() {
    let Some(browser) = chromium() else { return };
    let work = tempfile::tempdir().expect("temp dir");
    let page = write_report(&work.path().join("report"));
    let problems = browser_problems(&browser, work.path(), "dom", &page, &REPORT_CHARTS);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    screenshot(&browser, work.path(), &page, "report-screenshot.png", 3800);
}

#[test]
fn the_plan_page_renders_in_chromium() {
    let Some(browser) = chromium() else { return };
    let work = tempfile::tempdir().expect("temp dir");
    let page = write_plan(&work.path().join("plan"));
    let problems = browser_problems(&browser, work.path(), "plan-dom", &page, &PLAN_CHARTS);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    screenshot(&browser, work.path(), &page, "plan-screenshot.png", 4000);
}

/// The checks have teeth: a page with a chart not drawn and a script that throws fails them.
#[test]
fn the_browser_check_catches_a_broken_page() {
    let Some(browser) = chromium() else { return };
    let work = tempfile::tempdir().expect("temp dir");
    let page = write_report(&work.path().join("report"));
    let html = fs::read_to_string(&page).expect("the page");
    // the backlog chart loses its drawing; a script throws before the page's own
    let backlog = html
        .find("<figure class=\"chart\" id=\"backlog\">")
        .expect("a backlog chart");
    let (svg_from, svg_to) = (
        backlog + html[backlog..].find("<svg").expect("its svg"),
        backlog + html[backlog..].find("</svg>").expect("its svg's end") + "</svg>".len(),
    );
    let broken = format!(
        "{}{}{}",
        &html[..svg_from],
        "<svg width=\"0\" height=\"0\"></svg>",
        &html[svg_to..]
    )
    .replacen(
        "<script>",
        "<script>drsimNoSuchFunction();</script>\n<script>",
        1,
    );
    let broken_page = work.path().join("broken.html");
    fs::write(&broken_page, broken).expect("write the broken page");
    let problems = browser_problems(
        &browser,
        work.path(),
        "broken",
        &broken_page,
        &REPORT_CHARTS,
    );
    let all = problems.join("\n");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("console:") && p.contains("drsimNoSuchFunction")),
        "the uncaught error is not reported:\n{all}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("data-charts-ok> is Some(\"3\")")),
        "{all}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("chart `backlog`: no <svg>")),
        "{all}"
    );
    assert!(
        !problems.iter().any(|p| p.starts_with("chart `rpo`")),
        "{all}"
    );
}
