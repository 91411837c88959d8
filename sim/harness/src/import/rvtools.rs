//! The RVTools export, read into plain records: one per VM (vInfo), virtual disk (vDisk), host (vHost),
//! datastore (vDatastore), guest partition (vPartition) and snapshot (vSnapshot). vInfo and vDisk are
//! required, the other tabs optional. Only the columns the import uses are read; a required column that
//! is missing, or a cell that does not hold what its column should, is an error naming the file, the
//! row and the column.

use super::ImportError;
use super::columns::{self, Cells, Spec};
use super::table::{Tab, Table, Workbook, read_csv};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where an export is.
#[derive(Clone, Debug)]
pub enum Source {
    /// A workbook with the tabs as sheets.
    Workbook(PathBuf),
    /// One CSV file per tab (vInfo and vDisk required).
    Csv(BTreeMap<Tab, PathBuf>),
}

impl Source {
    /// The source for `path`: a workbook file, or a directory of RVTools' CSV files (`…vInfo.csv`,
    /// `…vDisk.csv`, …, matched by the end of their names, ignoring case).
    pub fn at(path: &Path) -> Result<Source, ImportError> {
        if !path.is_dir() {
            return Ok(Source::Workbook(path.to_owned()));
        }
        let entries = std::fs::read_dir(path)
            .map_err(|e| ImportError::new(format!("{}: cannot list it: {e}", path.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
            .collect();
        files.sort();
        let mut found = BTreeMap::new();
        for tab in Tab::ALL {
            let matching: Vec<&PathBuf> = files
                .iter()
                .filter(|p| {
                    p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(|s| s.to_ascii_lowercase().ends_with(tab.prefix()))
                })
                .collect();
            match matching.as_slice() {
                [] => {}
                [one] => {
                    found.insert(tab, (*one).clone());
                }
                several => {
                    return Err(ImportError::new(format!(
                        "{}: several CSV files could be the {} tab: {}; give them with --{}",
                        path.display(),
                        tab.name(),
                        several
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        tab.prefix()
                    )));
                }
            }
        }
        for tab in [Tab::VInfo, Tab::VDisk] {
            if !found.contains_key(&tab) {
                return Err(ImportError::new(format!(
                    "{}: no CSV file of the {} tab (a name ending in `{}.csv`)",
                    path.display(),
                    tab.name(),
                    tab.name()
                )));
            }
        }
        Ok(Source::Csv(found))
    }

    /// How the export is named in the scenario's description: file names only, so that the same
    /// export gives the same scenario wherever it lies.
    pub fn describe(&self) -> String {
        let name = |p: &Path| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        };
        match self {
            Source::Workbook(p) => name(p),
            Source::Csv(files) => files
                .values()
                .map(|p| name(p))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A VM (or template) of vInfo.
#[derive(Clone, Debug, Default)]
pub struct VmRow {
    /// Where it is, for messages (`vinfo.csv:17`).
    pub at: String,
    /// Its name.
    pub name: String,
    /// Its vCenter (`VI SDK Server`), when the export says.
    pub vcenter: Option<String>,
    /// Powered on (`Powerstate` = poweredOn), when the export says.
    pub powered_on: Option<bool>,
    /// A template.
    pub template: bool,
    /// An SRM placeholder.
    pub srm_placeholder: bool,
    /// vCPUs.
    pub cpus: Option<u32>,
    /// Memory in bytes.
    pub memory: Option<u64>,
    /// Provisioned bytes.
    pub provisioned: Option<u64>,
    /// Bytes in use on the datastores.
    pub in_use: Option<u64>,
    /// Its ESXi host.
    pub host: Option<String>,
    /// The guest OS (the configuration file's, else VMware Tools').
    pub os: Option<String>,
    /// `bios` or `efi`.
    pub firmware: Option<String>,
    /// `disk.EnableUUID`.
    pub enable_uuid: Option<bool>,
    /// The `.vmx` path, `[datastore] folder/vm.vmx`.
    pub path: Option<String>,
}

/// A virtual disk of vDisk.
#[derive(Clone, Debug, Default)]
pub struct DiskRow {
    /// Where it is.
    pub at: String,
    /// Its VM.
    pub vm: String,
    /// Its VM's vCenter, when the export says.
    pub vcenter: Option<String>,
    /// Its label (`Hard disk 1`).
    pub label: Option<String>,
    /// Its capacity in bytes.
    pub capacity: u64,
    /// A raw device mapping.
    pub raw: bool,
    /// Its `.vmdk` path, `[datastore] folder/vm.vmdk`.
    pub path: Option<String>,
}

/// A host of vHost.
#[derive(Clone, Debug, Default)]
pub struct HostRow {
    /// Its name.
    pub name: String,
    /// Its vCenter, when the export says.
    pub vcenter: Option<String>,
    /// Its memory in bytes.
    pub memory: Option<u64>,
    /// Memory in use, percent.
    pub memory_usage_pct: Option<f64>,
    /// `ESX Version`, e.g. "VMware ESXi 7.0.3 build-20036589".
    pub version: Option<String>,
}

/// A datastore of vDatastore.
#[derive(Clone, Debug, Default)]
pub struct DatastoreRow {
    /// Where it is.
    pub at: String,
    /// Its name.
    pub name: String,
    /// Its vCenter, when the export says.
    pub vcenter: Option<String>,
    /// `VMFS`, `NFS`, `NFS41`, `vsan`, `VVOL`.
    pub kind: Option<String>,
    /// Capacity in bytes.
    pub capacity: Option<u64>,
    /// Free bytes.
    pub free: Option<u64>,
    /// The hosts that mount it.
    pub hosts: Vec<String>,
}

/// A guest partition of vPartition.
#[derive(Clone, Debug, Default)]
pub struct PartitionRow {
    /// Its VM.
    pub vm: String,
    /// Its VM's vCenter, when the export says.
    pub vcenter: Option<String>,
    /// Bytes used in it.
    pub consumed: u64,
}

/// A snapshot of vSnapshot.
#[derive(Clone, Debug, Default)]
pub struct SnapshotRow {
    /// Its VM.
    pub vm: String,
    /// Its VM's vCenter, when the export says.
    pub vcenter: Option<String>,
}

/// An export, read.
#[derive(Clone, Debug, Default)]
pub struct Export {
    /// vInfo.
    pub vms: Vec<VmRow>,
    /// vDisk.
    pub disks: Vec<DiskRow>,
    /// vHost (empty when the export has no such tab).
    pub hosts: Vec<HostRow>,
    /// vDatastore.
    pub datastores: Vec<DatastoreRow>,
    /// vPartition.
    pub partitions: Vec<PartitionRow>,
    /// vSnapshot.
    pub snapshots: Vec<SnapshotRow>,
}

const fn spec(label: &'static str, aliases: &'static [&'static str]) -> Spec {
    Spec {
        label,
        aliases,
        size: false,
    }
}

const fn size(label: &'static str, aliases: &'static [&'static str]) -> Spec {
    Spec {
        label,
        aliases,
        size: true,
    }
}

const VM: Spec = spec("VM", &["vm", "vmname"]);
const VCENTER: Spec = spec("VI SDK Server", &["visdkserver", "sdkserver", "vcenter"]);

mod vinfo {
    use super::*;
    pub const POWER: Spec = spec("Powerstate", &["powerstate"]);
    pub const TEMPLATE: Spec = spec("Template", &["template"]);
    pub const SRM: Spec = spec("SRM Placeholder", &["srmplaceholder"]);
    pub const CPUS: Spec = spec("CPUs", &["cpus", "numcpus", "numcpu", "cpu"]);
    pub const MEMORY: Spec = size("Memory", &["memory"]);
    pub const PROVISIONED: Spec = size("Provisioned MiB", &["provisioned"]);
    pub const IN_USE: Spec = size("In Use MiB", &["inuse"]);
    pub const HOST: Spec = spec("Host", &["host"]);
    pub const OS: Spec = spec(
        "OS according to the configuration file",
        &["osaccordingtotheconfigurationfile", "os", "osconfig"],
    );
    pub const OS_TOOLS: Spec = spec(
        "OS according to the VMware Tools",
        &["osaccordingtothevmwaretools", "ostools"],
    );
    pub const FIRMWARE: Spec = spec("Firmware", &["firmware"]);
    pub const ENABLE_UUID: Spec = spec("EnableUUID", &["enableuuid", "diskenableuuid"]);
    pub const PATH: Spec = spec("Path", &["path", "vmxpath"]);
}

mod vdisk {
    use super::*;
    pub const DISK: Spec = spec("Disk", &["disk", "name", "label"]);
    pub const CAPACITY: Spec = size("Capacity MiB", &["capacity"]);
    pub const RAW: Spec = spec("Raw", &["raw"]);
    pub const PATH: Spec = spec("Path", &["path"]);
}

mod vhost {
    use super::*;
    pub const HOST: Spec = spec("Host", &["host", "name", "hostname"]);
    pub const MEMORY: Spec = size("# Memory", &["nummemory", "memory", "memorysize"]);
    pub const MEMORY_USAGE: Spec = spec(
        "Memory usage %",
        &["memoryusage", "memoryusagepct", "memoryusagepercent"],
    );
    pub const VERSION: Spec = spec("ESX Version", &["esxversion", "fullname", "version"]);
}

mod vdatastore {
    use super::*;
    pub const NAME: Spec = spec("Name", &["name", "datastore"]);
    pub const TYPE: Spec = spec("Type", &["type"]);
    pub const CAPACITY: Spec = size("Capacity MiB", &["capacity"]);
    pub const FREE: Spec = size("Free MiB", &["free", "freespace"]);
    pub const HOSTS: Spec = spec("Hosts", &["hosts"]);
}

mod vpartition {
    use super::*;
    pub const CONSUMED: Spec = size("Consumed MiB", &["consumed"]);
}

/// Reads an export.
pub fn read(source: &Source) -> Result<Export, ImportError> {
    let mut tables: BTreeMap<Tab, Table> = BTreeMap::new();
    match source {
        Source::Workbook(path) => {
            let mut wb = Workbook::open(path)?;
            for tab in Tab::ALL {
                match wb.table(tab)? {
                    Some(t) => {
                        tables.insert(tab, t);
                    }
                    None if tab.required() => {
                        return Err(ImportError::new(format!(
                            "{}: no sheet \"{}\" (an RVTools export has vInfo and vDisk); sheets found: {}",
                            path.display(),
                            tab.name(),
                            wb.sheet_names()
                                .iter()
                                .map(|n| format!("\"{n}\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    None => {}
                }
            }
        }
        Source::Csv(files) => {
            for (tab, path) in files {
                tables.insert(*tab, read_csv(*tab, path)?);
            }
            for tab in [Tab::VInfo, Tab::VDisk] {
                if !tables.contains_key(&tab) {
                    return Err(ImportError::new(format!(
                        "the {} tab is required: give its CSV file with --{}",
                        tab.name(),
                        tab.prefix()
                    )));
                }
            }
        }
    }
    let mut export = Export::default();
    for (tab, t) in &tables {
        match tab {
            Tab::VInfo => export.vms = read_vinfo(t)?,
            Tab::VDisk => export.disks = read_vdisk(t)?,
            Tab::VHost => export.hosts = read_vhost(t)?,
            Tab::VDatastore => export.datastores = read_vdatastore(t)?,
            Tab::VPartition => export.partitions = read_vpartition(t)?,
            Tab::VSnapshot => export.snapshots = read_vsnapshot(t)?,
        }
    }
    Ok(export)
}

fn read_vinfo(t: &Table) -> Result<Vec<VmRow>, ImportError> {
    use vinfo::*;
    let vm = columns::require(t, &VM)?;
    let host = columns::require(t, &HOST)?;
    let os = columns::find(t, &OS);
    let os_tools = columns::find(t, &OS_TOOLS);
    if os.is_none() && os_tools.is_none() {
        return Err(columns::missing(t, &OS));
    }
    let find = |s: &Spec| columns::find(t, s);
    let (vc, power, template, srm) = (find(&VCENTER), find(&POWER), find(&TEMPLATE), find(&SRM));
    let (cpus, memory, provisioned, in_use) = (
        find(&CPUS),
        find(&MEMORY),
        find(&PROVISIONED),
        find(&IN_USE),
    );
    let (firmware, uuid, path) = (find(&FIRMWARE), find(&ENABLE_UUID), find(&PATH));
    let mut out = Vec::new();
    for row in &t.rows {
        let c = Cells::new(t, row);
        let power = c.text(power.as_ref());
        out.push(VmRow {
            at: c.at(),
            name: c.required_text(&vm, "the VM's name")?,
            vcenter: c.text(vc.as_ref()),
            powered_on: power
                .map(|p| p.eq_ignore_ascii_case("poweredOn") || p.eq_ignore_ascii_case("on")),
            template: c.flag(template.as_ref())?.unwrap_or(false),
            srm_placeholder: c.flag(srm.as_ref())?.unwrap_or(false),
            cpus: c.count(cpus.as_ref())?,
            memory: c.size(memory.as_ref())?,
            provisioned: c.size(provisioned.as_ref())?,
            in_use: c.size(in_use.as_ref())?,
            host: c.text(Some(&host)),
            os: c.text(os.as_ref()).or_else(|| c.text(os_tools.as_ref())),
            firmware: c.text(firmware.as_ref()),
            enable_uuid: c.flag(uuid.as_ref())?,
            path: c.text(path.as_ref()),
        });
    }
    Ok(out)
}

fn read_vdisk(t: &Table) -> Result<Vec<DiskRow>, ImportError> {
    let vm = columns::require(t, &VM)?;
    let capacity = columns::require(t, &vdisk::CAPACITY)?;
    let vc = columns::find(t, &VCENTER);
    let label = columns::find(t, &vdisk::DISK);
    let raw = columns::find(t, &vdisk::RAW);
    let path = columns::find(t, &vdisk::PATH);
    let mut out = Vec::new();
    for row in &t.rows {
        let c = Cells::new(t, row);
        let Some(cap) = c.size(Some(&capacity))? else {
            return Err(ImportError::new(format!(
                "{}: column \"{}\": expected the disk's capacity, found an empty cell",
                c.at(),
                capacity.header
            )));
        };
        out.push(DiskRow {
            at: c.at(),
            vm: c.required_text(&vm, "the VM's name")?,
            vcenter: c.text(vc.as_ref()),
            label: c.text(label.as_ref()),
            capacity: cap,
            raw: c.flag(raw.as_ref())?.unwrap_or(false),
            path: c.text(path.as_ref()),
        });
    }
    Ok(out)
}

fn read_vhost(t: &Table) -> Result<Vec<HostRow>, ImportError> {
    let host = columns::require(t, &vhost::HOST)?;
    let vc = columns::find(t, &VCENTER);
    let memory = columns::find(t, &vhost::MEMORY);
    let usage = columns::find(t, &vhost::MEMORY_USAGE);
    let version = columns::find(t, &vhost::VERSION);
    let mut out = Vec::new();
    for row in &t.rows {
        let c = Cells::new(t, row);
        let pct = c.number(usage.as_ref())?;
        if let (Some(p), Some(col)) = (pct, usage.as_ref())
            && p > 100.0
        {
            return Err(ImportError::new(format!(
                "{}: column \"{}\": expected a percentage 0–100, found \"{p}\"",
                c.at(),
                col.header
            )));
        }
        out.push(HostRow {
            name: c.required_text(&host, "the host's name")?,
            vcenter: c.text(vc.as_ref()),
            // some exports count a host's memory in bytes under a unit-less header: no host has a PiB
            memory: c
                .size(memory.as_ref())?
                .map(|m| if m > 1 << 50 { m >> 20 } else { m }),
            memory_usage_pct: pct,
            version: c.text(version.as_ref()),
        });
    }
    Ok(out)
}

fn read_vdatastore(t: &Table) -> Result<Vec<DatastoreRow>, ImportError> {
    use vdatastore::*;
    let name = columns::require(t, &NAME)?;
    let vc = columns::find(t, &VCENTER);
    let kind = columns::find(t, &TYPE);
    let capacity = columns::find(t, &CAPACITY);
    let free = columns::find(t, &FREE);
    let hosts = columns::find(t, &HOSTS);
    let mut out = Vec::new();
    for row in &t.rows {
        let c = Cells::new(t, row);
        out.push(DatastoreRow {
            at: c.at(),
            name: c.required_text(&name, "the datastore's name")?,
            vcenter: c.text(vc.as_ref()),
            kind: c.text(kind.as_ref()),
            capacity: c.size(capacity.as_ref())?,
            free: c.size(free.as_ref())?,
            hosts: c
                .text(hosts.as_ref())
                .map(|h| {
                    h.split([',', ';'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

fn read_vpartition(t: &Table) -> Result<Vec<PartitionRow>, ImportError> {
    let vm = columns::require(t, &VM)?;
    let consumed = columns::require(t, &vpartition::CONSUMED)?;
    let vc = columns::find(t, &VCENTER);
    let mut out = Vec::new();
    for row in &t.rows {
        let c = Cells::new(t, row);
        out.push(PartitionRow {
            vm: c.required_text(&vm, "the VM's name")?,
            vcenter: c.text(vc.as_ref()),
            consumed: c.size(Some(&consumed))?.unwrap_or(0),
        });
    }
    Ok(out)
}

fn read_vsnapshot(t: &Table) -> Result<Vec<SnapshotRow>, ImportError> {
    let vm = columns::require(t, &VM)?;
    let vc = columns::find(t, &VCENTER);
    let mut out = Vec::new();
    for row in &t.rows {
        let c = Cells::new(t, row);
        out.push(SnapshotRow {
            vm: c.required_text(&vm, "the VM's name")?,
            vcenter: c.text(vc.as_ref()),
        });
    }
    Ok(out)
}

/// The datastore of a `[datastore] folder/file` path.
pub fn datastore_of(path: &str) -> Option<&str> {
    let rest = path.trim().strip_prefix('[')?;
    let (ds, _) = rest.split_once(']')?;
    let ds = ds.trim();
    (!ds.is_empty()).then_some(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_paths() {
        assert_eq!(
            datastore_of("[ds-gold 01] app/app.vmdk"),
            Some("ds-gold 01")
        );
        assert_eq!(datastore_of("app/app.vmdk"), None);
        assert_eq!(datastore_of("[] x"), None);
    }
}
