//! `drsim import rvtools` (issue 7) through the built binary: the same estate read from the tab CSVs,
//! the CSV files one by one, an `.xlsx` workbook (built here with rust_xlsxwriter, as RVTools writes it:
//! numbers as numbers, flags as booleans) and CSVs with RVTools' prefixed headers and other units all
//! give the same scenario; templates and SRM placeholders are left out; every flagged rule is warned
//! about and carried into the machines so the rehearsal fires it; a malformed export names file,
//! sheet/row and column, exits 2 and writes nothing; the scenario passes `drsim check` and runs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed export: RVTools' tab headers, one CSV per tab.
fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rvtools")
}

const TABS: [&str; 6] = [
    "vInfo",
    "vDisk",
    "vHost",
    "vDatastore",
    "vPartition",
    "vSnapshot",
];

/// Runs `drsim ARGS`: exit code, stdout, stderr.
fn drsim<I, S>(args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_drsim"))
        .args(args.into_iter().map(Into::into))
        .output()
        .expect("drsim runs");
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `drsim import rvtools ARGS -o DIR/NAME.json`: exit code, stdout, stderr and the file, if written.
fn import(args: &[OsString], dir: &Path, name: &str) -> (i32, String, String, Option<String>) {
    let out = dir.join(format!("{name}.json"));
    let mut all: Vec<OsString> = vec!["import".into(), "rvtools".into()];
    all.extend(args.iter().cloned());
    all.push("-o".into());
    all.push(out.clone().into());
    let (code, stdout, stderr) = drsim(all);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (code, stdout, stderr, std::fs::read_to_string(&out).ok())
}

fn os(p: &Path) -> OsString {
    p.as_os_str().to_owned()
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .expect("fixture");
    rdr.records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

fn write_csv(path: &Path, rows: &[Vec<String>], delimiter: u8) {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .expect("write");
    for r in rows {
        w.write_record(r).expect("record");
    }
    w.flush().expect("flush");
}

/// The fixture's tabs.
fn tabs() -> Vec<(&'static str, Vec<Vec<String>>)> {
    TABS.iter()
        .map(|t| (*t, read_csv(&data().join(format!("{t}.csv")))))
        .collect()
}

/// The tabs as a workbook, the way RVTools writes one: numbers as numbers, True/False as booleans.
fn workbook(path: &Path, tabs: &[(&str, Vec<Vec<String>>)]) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    for (name, rows) in tabs {
        let ws = wb.add_worksheet();
        ws.set_name(*name).expect("sheet name");
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                let plain = cell.replace(',', "");
                if r > 0 && !cell.is_empty() && plain.parse::<f64>().is_ok() {
                    ws.write_number(r, c, plain.parse::<f64>().expect("number"))
                        .expect("cell");
                } else if r > 0 && (cell == "True" || cell == "False") {
                    ws.write_boolean(r, c, cell == "True").expect("cell");
                } else if !cell.is_empty() {
                    ws.write_string(r, c, cell).expect("cell");
                }
            }
        }
    }
    wb.save(path).expect("save workbook");
}

/// The scenario without its description (which names the export's files).
fn without_description(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).expect("JSON");
    v.as_object_mut().expect("object").remove("description");
    v
}

/// The CSV files one by one, as flags.
fn flags(dir: &Path) -> Vec<OsString> {
    let mut args = Vec::new();
    for t in TABS {
        args.push(format!("--{}", t.to_ascii_lowercase()).into());
        args.push(os(&dir.join(format!("{t}.csv"))));
    }
    args
}

#[test]
fn tab_csvs_files_and_workbook_give_one_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err, from_dir) = import(&[os(&data())], dir.path(), "from-dir");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("6 machines"), "{out}");
    let from_dir = from_dir.expect("written");
    let (code, _, err, from_flags) = import(&flags(&data()), dir.path(), "from-dir");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        from_flags.as_deref(),
        Some(from_dir.as_str()),
        "same files, same bytes"
    );
    // deterministic: the same export gives the same bytes again
    let (_, _, _, again) = import(&[os(&data())], dir.path(), "from-dir");
    assert_eq!(again.as_deref(), Some(from_dir.as_str()));

    let xlsx = dir.path().join("RVTools_export_all.xlsx");
    workbook(&xlsx, &tabs());
    let (code, _, err, from_xlsx) = import(&[os(&xlsx)], dir.path(), "from-dir");
    assert_eq!(code, 0, "{err}");
    let from_xlsx = from_xlsx.expect("written");
    assert_eq!(
        without_description(&from_xlsx),
        without_description(&from_dir)
    );
    assert!(from_xlsx.contains("from RVTools_export_all.xlsx"));
    // the workbook's warnings name sheet and row
    assert!(
        err.contains("RVTools_export_all.xlsx: sheet vInfo, row 3: NS-09"),
        "{err}"
    );
}

/// RVTools' CSV export's headers (`vInfoVMName`, …) and older or other units.
fn prefixed(tab: &str, header: &str) -> String {
    let renamed = match (tab, header) {
        ("vInfo", "VM") => "vInfoVMName",
        ("vInfo", "Provisioned MiB") => "Provisioned MB",
        ("vInfo", "In Use MiB") => "vInfoInUse",
        ("vInfo", "OS according to the configuration file") => "vInfoOS",
        ("vInfo", "OS according to the VMware Tools") => "vInfoOSTools",
        ("vInfo", "SRM Placeholder") => "vInfoSRMPlaceHolder",
        ("vInfo", "VI SDK Server") => "vInfoVISDKServer",
        ("vDisk", "VM") => "vDiskVMName",
        ("vDisk", "Disk") => "vDiskName",
        ("vDisk", "Capacity MiB") => "Capacity GiB",
        ("vHost", "Host") => "vHostName",
        ("vHost", "# Memory") => "vHostMemorySize",
        ("vHost", "ESX Version") => "vHostFullName",
        ("vDatastore", "Free MiB") => "vDatastoreFreeSpace",
        ("vDatastore", "Capacity MiB") => "Capacity MB",
        ("vSnapshot", "VM") => "vSnapshotVMName",
        ("vPartition", "Consumed MiB") => "vPartitionConsumedMiB",
        _ => {
            let h = header.replace('#', "Num").replace('%', "Percent");
            return format!("{tab}{}", h.replace(' ', ""));
        }
    };
    renamed.to_owned()
}

#[test]
fn prefixed_headers_old_units_and_separators() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _, reference) = import(&[os(&data())], dir.path(), "reference");
    let reference = reference.expect("written");
    let export = dir.path().join("csv");
    std::fs::create_dir(&export).unwrap();
    for (tab, rows) in tabs() {
        let mut rows = rows;
        let gib = rows[0]
            .iter()
            .position(|h| h == "Capacity MiB" && tab == "vDisk");
        rows[0] = rows[0].iter().map(|h| prefixed(tab, h)).collect();
        for row in rows.iter_mut().skip(1) {
            if let Some(c) = gib {
                let mib: f64 = row[c].replace(',', "").parse().unwrap();
                row[c] = format!("{}", mib / 1024.0);
            }
            // thousands separators as some locales write them
            for cell in row.iter_mut() {
                if cell.contains(',') && cell.replace(',', "").parse::<u64>().is_ok() {
                    *cell = cell.replace(',', "\u{a0}");
                }
            }
        }
        // semicolon-separated, named as RVTools names its CSV files
        write_csv(&export.join(format!("RVTools_tab{tab}.csv")), &rows, b';');
    }
    let (code, _, err, got) = import(&[os(&export)], dir.path(), "reference");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        without_description(&got.expect("written")),
        without_description(&reference)
    );
}

#[test]
fn templates_placeholders_and_every_flagged_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err, text) = import(&[os(&data())], dir.path(), "estate");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("left out 1 template, 1 SRM placeholder, 0 powered off, 1 for other reasons"),
        "{out}"
    );
    for needle in [
        "vInfo.csv:10: VM `bsd01` left out: its guest OS `FreeBSD 12 (64-bit)`",
        "vInfo.csv:3: NS-09: VM `web01` boots with EFI firmware",
        "vInfo.csv:4: RJ-06: VM `db01` has disk.EnableUUID=FALSE",
        "vInfo.csv:4: RP-06: VM `db01` has 2 snapshots",
        "vInfo.csv:6: RP-13: VM `sql01` has 1 raw (RDM) disk",
        "RP-13: datastore `nfs-archive` is NFS",
    ] {
        assert!(err.contains(needle), "`{needle}` in:\n{err}");
    }
    let text = text.expect("written");
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    let description = s["description"].as_str().unwrap();
    for rule in [
        "NS-09",
        "RJ-06",
        "RP-06",
        "RP-13",
        "1 template",
        "1 SRM placeholder",
    ] {
        assert!(description.contains(rule), "{rule} in {description}");
    }
    let machines = s["machines"].as_array().unwrap();
    let names: Vec<&str> = machines
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["app01", "web01", "db01", "files01", "sql01", "jump01"]
    );
    let m = |n: &str| machines.iter().find(|m| m["name"] == n).unwrap();
    assert_eq!(m("web01")["firmware"], "efi");
    assert_eq!(m("db01")["enable_uuid"], false);
    assert_eq!(m("db01")["snapshots"], 2);
    assert_eq!(m("sql01")["disks"][1]["rdm"], true);
    assert_eq!(m("db01")["os"], "linux");
    assert_eq!(m("app01")["memory"], "16GiB");
    // vPartition's consumed 150000 MiB spread over the disks by capacity (100 : 300 GiB)
    assert_eq!(m("app01")["disks"][0]["used"], "37500MiB");
    let ds = &s["inventory"]["datastores"];
    assert_eq!(ds[2]["name"], "nfs-archive");
    assert_eq!(ds[2]["kind"], "nfs");
    // §5: 6 machines writing well under 250 GB/day: one PS with a 300 GB cache
    assert_eq!(s["inventory"]["process_servers"][0]["cache"], "300GB");
    // master targets per OS on a host that writes the datastores
    let mts = s["inventory"]["master_targets"].as_array().unwrap();
    let oses: Vec<&str> = mts.iter().map(|m| m["os"].as_str().unwrap()).collect();
    assert_eq!(oses, ["windows", "linux"]);
}

#[test]
fn the_imported_scenario_checks_runs_and_meets_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err, _) = import(&[os(&data())], dir.path(), "estate");
    assert_eq!(code, 0, "{err}");
    let file = dir.path().join("estate.json");
    let (code, out, err) = drsim([os(Path::new("check")), os(&file)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": ok (estate: 6 machines, 36 steps"), "{out}");
    let (code, out, err) = drsim([os(Path::new("run")), os(Path::new("--json")), os(&file)]);
    assert_eq!(code, 0, "{out}{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON summary");
    let steps = summary["steps"].as_array().unwrap();
    let step = |id: &str| steps.iter().find(|s| s["id"] == id).unwrap();
    // the rules the import warned about, now fired by the rehearsal itself
    assert_eq!(step("reprotect web01")["outcome"], "failed");
    assert_eq!(step("reprotect web01")["rule"], "NS-09");
    assert_eq!(step("reprotect files01")["outcome"], "failed");
    assert_eq!(step("reprotect files01")["rule"], "RP-13");
    // RJ-06: db01's original disks are not found: a full copy of their used 300 GiB
    let db01 = step("reprotect db01");
    assert_eq!(db01["outcome"], "succeeded");
    assert!(
        db01["reprotect_bytes"]["db01"].as_u64().unwrap() >= 300 << 30,
        "{db01}"
    );
    // the others go round the whole cycle
    for vm in ["app01", "sql01", "jump01"] {
        assert_eq!(
            step(&format!("reprotect-to-azure {vm}"))["outcome"],
            "succeeded",
            "{vm}"
        );
    }
}

#[test]
fn churn_state_and_step_options() {
    let dir = tempfile::tempdir().unwrap();
    let base = |extra: &[&str]| {
        let mut a = vec![os(&data())];
        a.extend(extra.iter().map(OsString::from));
        a
    };
    let parse = |t: Option<String>| -> serde_json::Value {
        serde_json::from_str(&t.expect("written")).unwrap()
    };
    let (code, _, err, t) = import(&base(&["--churn-rate", "50KB/s"]), dir.path(), "a");
    assert_eq!(code, 0, "{err}");
    let s = parse(t);
    assert_eq!(s["churn"]["rate"], "50000B/s");
    assert!(s["machines"][0]["disks"][0].get("churn").is_none());
    let (_, _, _, t) = import(&base(&["--churn", "0%"]), dir.path(), "b");
    assert_eq!(
        parse(t)["machines"][0]["disks"][0]["churn"]["model"],
        "idle"
    );
    // 5% of 37500 MiB a day = 22.2 KiB/s, in whole KiB/s
    let (_, _, _, t) = import(&base(&["--churn", "5%"]), dir.path(), "c");
    assert_eq!(
        parse(t)["machines"][0]["disks"][0]["churn"]["rate"],
        "22KiB/s"
    );
    let (code, _, err, t) = import(
        &base(&[
            "--steps",
            "none",
            "--state",
            "in-azure",
            "--seed",
            "9",
            "--name",
            "lab",
            "--duration",
            "3d",
        ]),
        dir.path(),
        "d",
    );
    assert_eq!(code, 0, "{err}");
    let s = parse(t);
    assert!(s.get("steps").is_none());
    assert_eq!(
        (&s["name"], &s["seed"], &s["duration"]),
        (&"lab".into(), &9.into(), &"3days".into())
    );
    assert_eq!(s["machines"][0]["state"], "in-azure");
    // starting protected to on-prem: each machine carries its reprotect values; the cycle starts at failback
    let (code, _, err, t) = import(
        &base(&["--state", "protected-to-on-prem", "--skip-powered-off"]),
        dir.path(),
        "e",
    );
    assert_eq!(code, 0, "{err}");
    let s = parse(t);
    assert_eq!(s["machines"][0]["protection"]["process_server"], "ps01");
    assert_eq!(s["steps"][0]["op"], "failback");
    assert!(
        !s["machines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "jump01"),
        "powered off"
    );
    let (code, out, err) = drsim([os(Path::new("check")), os(&dir.path().join("e.json"))]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Asserts an import failed as bad input: exit 2, no panic, nothing written, every needle said.
fn assert_refused(args: &[OsString], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err, written) = import(args, dir.path(), "out");
    assert_eq!(code, 2, "exit code; stderr: {err}");
    assert!(written.is_none(), "nothing written");
    for n in needles {
        assert!(err.contains(n), "`{n}` in:\n{err}");
    }
}

/// A copy of the fixture with `f` applied to one tab's rows.
fn broken(dir: &Path, tab: &str, mut f: impl FnMut(&mut Vec<Vec<String>>)) -> PathBuf {
    let export = dir.join(format!("broken-{tab}"));
    std::fs::create_dir_all(&export).unwrap();
    for (t, mut rows) in tabs() {
        if t == tab {
            f(&mut rows);
        }
        write_csv(&export.join(format!("{t}.csv")), &rows, b',');
    }
    export
}

fn col(rows: &[Vec<String>], header: &str) -> usize {
    rows[0].iter().position(|h| h == header).unwrap()
}

#[test]
fn malformed_exports_say_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // a value that is not a number
    let e = broken(d, "vInfo", |rows| {
        let c = col(rows, "Provisioned MiB");
        rows[2][c] = "abc".into();
    });
    assert_refused(
        &[os(&e)],
        &[&format!(
            "{}:3: column \"Provisioned MiB\": expected a size (a number of MiB, or e.g. \"40 GiB\"), found \"abc\"",
            e.join("vInfo.csv").display()
        )],
    );
    // a flag that is none
    let e = broken(d, "vDisk", |rows| {
        let c = col(rows, "Raw");
        rows[4][c] = "maybe".into();
    });
    assert_refused(
        &[os(&e)],
        &[
            "vDisk.csv:5: column \"Raw\": expected True or False",
            "found \"maybe\"",
        ],
    );
    // a required column missing: named, with the headers found
    let e = broken(d, "vInfo", |rows| {
        let c = col(rows, "Host");
        rows[0][c] = "Hostname?".into();
    });
    assert_refused(
        &[os(&e)],
        &[
            "vInfo.csv:1: missing column \"Host\"",
            "found: \"VM\", \"Powerstate\"",
            "\"Hostname?\"",
        ],
    );
    let e = broken(d, "vDisk", |rows| {
        let c = col(rows, "Capacity MiB");
        rows[0][c] = "Size".into();
    });
    assert_refused(&[os(&e)], &["vDisk.csv:1: missing column \"Capacity MiB\""]);
    // an empty required cell
    let e = broken(d, "vDisk", |rows| {
        let c = col(rows, "Capacity MiB");
        rows[1][c] = String::new();
    });
    assert_refused(&[os(&e)], &["vDisk.csv:2: column \"Capacity MiB\""]);
    // a percentage over 100
    let e = broken(d, "vHost", |rows| {
        let c = col(rows, "Memory usage %");
        rows[1][c] = "140".into();
    });
    assert_refused(
        &[os(&e)],
        &["vHost.csv:2: column \"Memory usage %\": expected a percentage"],
    );
    // nothing to import
    let e = broken(d, "vInfo", |rows| rows.truncate(1));
    assert_refused(&[os(&e)], &["no VM to import"]);
    // a directory without vDisk
    let e = d.join("no-vdisk");
    std::fs::create_dir_all(&e).unwrap();
    std::fs::copy(data().join("vInfo.csv"), e.join("vInfo.csv")).unwrap();
    assert_refused(&[os(&e)], &["no CSV file of the vDisk tab"]);

    // workbooks
    let mut t = tabs();
    let c = col(&t[0].1, "CPUs");
    t[0].1[3][c] = "four".into();
    let xlsx = d.join("bad.xlsx");
    workbook(&xlsx, &t);
    assert_refused(
        &[os(&xlsx)],
        &["bad.xlsx: sheet vInfo, row 4: column \"CPUs\": expected a number, found \"four\""],
    );
    let mut t = tabs();
    t.remove(1);
    workbook(&xlsx, &t);
    assert_refused(
        &[os(&xlsx)],
        &[
            "bad.xlsx: no sheet \"vDisk\"",
            "sheets found: \"vInfo\", \"vHost\"",
        ],
    );
    std::fs::write(&xlsx, b"PK\x03\x04 not really a zip").unwrap();
    assert_refused(&[os(&xlsx)], &["bad.xlsx: not readable as a workbook"]);
    assert_refused(
        &[os(&d.join("missing.xlsx"))],
        &["missing.xlsx: cannot read it"],
    );

    // options
    let mut args = vec![os(&data())];
    args.extend(["--state", "reprotecting"].map(OsString::from));
    assert_refused(&args, &["--state reprotecting: the state of a running job"]);
    let mut args = vec![os(&data())];
    args.extend(["--state", "sideways"].map(OsString::from));
    assert_refused(&args, &["--state: `sideways` is not a state"]);
    let mut args = vec![os(&data())];
    args.extend(["--churn", "lots"].map(OsString::from));
    assert_refused(&args, &["--churn: `lots` is not a percentage"]);
    let mut args = vec![os(&data())];
    args.extend(["--name", "my estate"].map(OsString::from));
    assert_refused(&args, &["--name: `my estate`"]);
    // --vinfo needs --vdisk (clap's usage error, exit 2)
    assert_refused(
        &[OsString::from("--vinfo"), os(&data().join("vInfo.csv"))],
        &["--vdisk"],
    );
}

#[test]
fn a_failed_import_leaves_an_existing_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    std::fs::write(&out, "keep me").unwrap();
    let e = broken(dir.path(), "vInfo", |rows| {
        let c = col(rows, "Memory");
        rows[1][c] = "-5".into();
    });
    let (code, _, err) = drsim([
        os(Path::new("import")),
        os(Path::new("rvtools")),
        os(&e),
        os(Path::new("-o")),
        os(&out),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("vInfo.csv:2: column \"Memory\""), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
}

#[test]
fn a_large_estate_is_sized_by_the_tables() {
    // 240 Windows VMs of 2 disks and one of 70, 20 Linux VMs: more than 225 machines ⇒ two process
    // servers; master targets of at most 57 protected disks each (RP-14 with their own 3)
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("big");
    std::fs::create_dir(&export).unwrap();
    let mut vinfo = vec![
        [
            "VM",
            "Host",
            "OS according to the configuration file",
            "Path",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut vdisk = vec![["VM", "Capacity MiB", "Path"].map(String::from).to_vec()];
    for i in 0..261 {
        let (name, os, disks) = match i {
            0..240 => (
                format!("win{i:03}"),
                "Microsoft Windows Server 2019 (64-bit)",
                2,
            ),
            240 => (
                "wide01".to_owned(),
                "Microsoft Windows Server 2019 (64-bit)",
                70,
            ),
            _ => (format!("lin{i:03}"), "CentOS 7 (64-bit)", 1),
        };
        let host = format!("esx{:02}", i % 4);
        let ds = format!("ds{}", i % 2);
        vinfo.push(vec![
            name.clone(),
            host,
            os.to_owned(),
            format!("[{ds}] {name}/{name}.vmx"),
        ]);
        for k in 0..disks {
            vdisk.push(vec![
                name.clone(),
                "40960".to_owned(),
                format!("[{ds}] {name}/{name}_{k}.vmdk"),
            ]);
        }
    }
    write_csv(&export.join("vInfo.csv"), &vinfo, b',');
    write_csv(&export.join("vDisk.csv"), &vdisk, b',');
    let (code, out, err, text) = import(&[os(&export)], dir.path(), "big");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("261 machines"), "{out}");
    assert!(err.contains("RP-14: VM `wide01` has 70 disks"), "{err}");
    assert!(
        err.contains("more than the 200 one configuration server serves"),
        "{err}"
    );
    assert!(
        err.contains("datastore `ds0` has no vDatastore row"),
        "{err}"
    );
    let s: serde_json::Value = serde_json::from_str(&text.expect("written")).unwrap();
    let inv = &s["inventory"];
    assert_eq!(inv["process_servers"].as_array().unwrap().len(), 2);
    let machines = s["machines"].as_array().unwrap();
    let steps = s["steps"].as_array().unwrap();
    let mut per_mt = std::collections::BTreeMap::<String, (usize, Vec<String>)>::new();
    for st in steps.iter().filter(|st| st["op"] == "reprotect") {
        let m = machines.iter().find(|m| m["name"] == st["item"]).unwrap();
        let e = per_mt
            .entry(st["master_target"].as_str().unwrap().to_owned())
            .or_default();
        e.0 += m["disks"].as_array().unwrap().len();
        e.1.push(m["name"].as_str().unwrap().to_owned());
    }
    for (mt, (n, vms)) in &per_mt {
        assert!(*n <= 57 || *vms == ["wide01"], "{mt}: {n} disks of {vms:?}");
    }
    assert_eq!(
        per_mt.values().map(|x| x.0).sum::<usize>(),
        240 * 2 + 70 + 20
    );
    // hosts derived from vInfo, each mounting the datastores its VMs use
    assert_eq!(inv["hosts"].as_array().unwrap().len(), 4);
    let file = dir.path().join("big.json");
    let (code, out, err) = drsim([os(Path::new("check")), os(&file)]);
    assert_eq!(code, 0, "{out}{err}");
}
