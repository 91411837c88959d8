//! The estate: the truth about the infrastructure (DOMAIN.md §1), as opposed to the engine's picture of
//! it. Entities use the engine's view types, so discovery copies them; what the CS would not know (a VM's
//! memory, its disks' used bytes) lives beside them in the world's own records.
//!
//! Every change is marked by how the vault learns of it ([`Visibility`]): a change made through the CS or
//! Azure (an engine action, Azure power state) is known at once; a change made behind their back (a fault,
//! a VM powered on by hand) only when discovery next runs (every 15 minutes, or on refresh). That is how
//! the engine's picture becomes stale the way the real CS's does.

mod discovery;

pub use discovery::Discovery;

use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use std::collections::{BTreeMap, BTreeSet};

/// The key of an entity, ordered, for change tracking.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A vCenter.
    VCenter(VCenterName),
    /// A host.
    Host(HostName),
    /// A datastore.
    Datastore(DatastoreName),
    /// An on-prem VM.
    OnPremVm(VmName),
    /// A master target.
    MasterTarget(MasterTargetName),
    /// A process server.
    ProcessServer(ProcessServerName),
    /// An Azure VM.
    AzureVm(VmName),
    /// The configuration server.
    ConfigServer,
    /// The Azure ↔ on-prem network.
    Network,
}

/// How the vault learns of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Through the CS or Azure: reported with the next observation batch.
    Known,
    /// Behind the CS's back: reported by the next discovery run.
    Discovered,
}

/// The truth. Stored as the engine's own [`Inventory`] shape (read it through `Deref`); every change goes
/// through the `*_mut` accessors, [`Estate::put`] or [`Estate::remove`], which record how the vault learns
/// of it.
#[derive(Clone, Debug, Default)]
pub struct Estate {
    inv: Inventory,
    /// Memory of each on-prem VM in MiB (FB-05; not part of the CS's view).
    pub vm_memory_mib: BTreeMap<VmName, u64>,
    /// Changes the vault knows at once.
    known: BTreeSet<Key>,
    /// Changes discovery will find.
    undiscovered: BTreeSet<Key>,
    /// What changed, for readers that look only at that.
    changes: ChangeLogs,
}

/// The estate's change logs: every entity of some kinds changed, added or removed, in order, with
/// repeats. Readers keep a cursor and look only at what changed since (the invariant checkers, so that
/// a step costs what changed, not the fleet; issue 6). Each grows with the changes a run makes (a few
/// per VM and job).
#[derive(Clone, Debug, Default)]
struct ChangeLogs {
    /// VMs, on-prem or Azure (INV-SPLIT, INV-OFF, INV-STATE).
    vms: Vec<VmName>,
    /// Datastores (INV-CAP).
    datastores: Vec<DatastoreName>,
    /// Master targets (their own disks: INV-CAP).
    master_targets: Vec<MasterTargetName>,
}

impl ChangeLogs {
    fn record(&mut self, key: &Key) {
        match key {
            Key::OnPremVm(n) | Key::AzureVm(n) => self.vms.push(n.clone()),
            Key::Datastore(n) => self.datastores.push(n.clone()),
            Key::MasterTarget(n) => self.master_targets.push(n.clone()),
            _ => {}
        }
    }
}

impl std::ops::Deref for Estate {
    type Target = Inventory;
    fn deref(&self) -> &Inventory {
        &self.inv
    }
}

impl Key {
    /// The key of an entity.
    pub fn of(e: &Entity) -> Key {
        match e {
            Entity::VCenter(x) => Key::VCenter(x.name.clone()),
            Entity::Host(x) => Key::Host(x.name.clone()),
            Entity::Datastore(x) => Key::Datastore(x.name.clone()),
            Entity::OnPremVm(x) => Key::OnPremVm(x.name.clone()),
            Entity::MasterTarget(x) => Key::MasterTarget(x.name.clone()),
            Entity::ProcessServer(x) => Key::ProcessServer(x.name.clone()),
            Entity::AzureVm(x) => Key::AzureVm(x.name.clone()),
            Entity::ConfigServer(_) => Key::ConfigServer,
            Entity::Network(_) => Key::Network,
        }
    }

    /// The engine's removal key (None for the CS and the network, which are never removed from the view).
    pub fn removal(&self) -> Option<EntityKey> {
        Some(match self.clone() {
            Key::VCenter(n) => EntityKey::VCenter(n),
            Key::Host(n) => EntityKey::Host(n),
            Key::Datastore(n) => EntityKey::Datastore(n),
            Key::OnPremVm(n) => EntityKey::OnPremVm(n),
            Key::MasterTarget(n) => EntityKey::MasterTarget(n),
            Key::ProcessServer(n) => EntityKey::ProcessServer(n),
            Key::AzureVm(n) => EntityKey::AzureVm(n),
            Key::ConfigServer | Key::Network => return None,
        })
    }
}

macro_rules! entity_access {
    ($get:ident, $map:ident, $name:ty, $view:ty, $key:ident) => {
        /// Changes an entity, marking how the vault learns of it. None if it does not exist.
        pub fn $get(&mut self, name: &$name, v: Visibility) -> Option<&mut $view> {
            let e = self.inv.$map.get_mut(name)?;
            let key = Key::$key(name.clone());
            self.changes.record(&key);
            match v {
                Visibility::Known => self.known.insert(key),
                Visibility::Discovered => self.undiscovered.insert(key),
            };
            Some(e)
        }
    };
}

impl Estate {
    entity_access!(vcenter_mut, vcenters, VCenterName, VCenterView, VCenter);
    entity_access!(host_mut, hosts, HostName, HostView, Host);
    entity_access!(
        datastore_mut,
        datastores,
        DatastoreName,
        DatastoreView,
        Datastore
    );
    entity_access!(onprem_mut, onprem_vms, VmName, OnPremVmView, OnPremVm);
    entity_access!(
        master_target_mut,
        master_targets,
        MasterTargetName,
        MasterTargetView,
        MasterTarget
    );
    entity_access!(
        process_server_mut,
        process_servers,
        ProcessServerName,
        ProcessServerView,
        ProcessServer
    );
    entity_access!(azure_mut, azure_vms, VmName, AzureVmView, AzureVm);

    /// Changes the configuration server (its state is always known to the vault: heartbeat).
    pub fn config_server_mut(&mut self) -> Option<&mut ConfigServerView> {
        self.known.insert(Key::ConfigServer);
        self.inv.config_server.as_mut()
    }

    /// Changes the network (the vault sees the connection state at once).
    pub fn network_mut(&mut self) -> Option<&mut NetworkView> {
        self.known.insert(Key::Network);
        self.inv.network.as_mut()
    }

    /// Adds or replaces an entity; the vault learns of it as `v` says.
    pub fn put(&mut self, e: Entity, v: Visibility) {
        let key = Key::of(&e);
        self.inv.apply(
            0,
            &InventoryDelta {
                upserts: vec![e],
                removals: Vec::new(),
            },
        );
        self.mark(key, v);
    }

    /// Removes an entity (a deleted on-prem VM, a deleted Azure VM: NS-06).
    pub fn remove(&mut self, key: Key, v: Visibility) {
        match key.removal() {
            Some(r) => self.inv.apply(
                0,
                &InventoryDelta {
                    upserts: Vec::new(),
                    removals: vec![r],
                },
            ),
            None if key == Key::ConfigServer => self.inv.config_server = None,
            None => self.inv.network = None,
        }
        self.mark(key, v);
    }

    /// The VMs changed, added or removed so far, oldest first (see `ChangeLogs`).
    pub fn vm_changes(&self) -> &[VmName] {
        &self.changes.vms
    }

    /// The datastores changed, added or removed so far, oldest first (see `ChangeLogs`).
    pub fn datastore_changes(&self) -> &[DatastoreName] {
        &self.changes.datastores
    }

    /// The master targets changed, added or removed so far, oldest first (see `ChangeLogs`).
    pub fn master_target_changes(&self) -> &[MasterTargetName] {
        &self.changes.master_targets
    }

    fn mark(&mut self, key: Key, v: Visibility) {
        self.changes.record(&key);
        match v {
            Visibility::Known => self.known.insert(key),
            Visibility::Discovered => self.undiscovered.insert(key),
        };
    }

    /// Marks everything for the next discovery (the first full discovery).
    pub fn mark_all_discovered(&mut self) {
        let keys: Vec<Key> = self
            .vcenters
            .keys()
            .cloned()
            .map(Key::VCenter)
            .chain(self.hosts.keys().cloned().map(Key::Host))
            .chain(self.datastores.keys().cloned().map(Key::Datastore))
            .chain(self.onprem_vms.keys().cloned().map(Key::OnPremVm))
            .chain(self.master_targets.keys().cloned().map(Key::MasterTarget))
            .chain(self.process_servers.keys().cloned().map(Key::ProcessServer))
            .chain(self.azure_vms.keys().cloned().map(Key::AzureVm))
            .chain(self.config_server.as_ref().map(|_| Key::ConfigServer))
            .chain(self.network.as_ref().map(|_| Key::Network))
            .collect();
        self.undiscovered.extend(keys);
    }

    /// The vCenter that manages an on-prem VM's host.
    pub fn vcenter_of_vm(&self, vm: &VmName) -> Option<&VCenterView> {
        self.vcenter_of_host(&self.onprem_vms.get(vm)?.host)
    }

    /// Whether the CS can reach this vCenter now (CS running, vCenter connected).
    pub fn vcenter_reachable(&self, vc: &VCenterName) -> bool {
        self.config_server.as_ref().is_some_and(|cs| cs.running)
            && self.vcenters.get(vc).is_some_and(|v| v.connected)
    }

    /// The entity of a key, as it is now (None when removed).
    pub fn entity(&self, key: &Key) -> Option<Entity> {
        Some(match key {
            Key::VCenter(n) => Entity::VCenter(self.vcenters.get(n)?.clone()),
            Key::Host(n) => Entity::Host(self.hosts.get(n)?.clone()),
            Key::Datastore(n) => Entity::Datastore(self.datastores.get(n)?.clone()),
            Key::OnPremVm(n) => Entity::OnPremVm(self.onprem_vms.get(n)?.clone()),
            Key::MasterTarget(n) => Entity::MasterTarget(self.master_targets.get(n)?.clone()),
            Key::ProcessServer(n) => Entity::ProcessServer(self.process_servers.get(n)?.clone()),
            Key::AzureVm(n) => Entity::AzureVm(self.azure_vms.get(n)?.clone()),
            Key::ConfigServer => Entity::ConfigServer(self.config_server.clone()?),
            Key::Network => Entity::Network(self.network?),
        })
    }

    pub(crate) fn take_known(&mut self) -> BTreeSet<Key> {
        std::mem::take(&mut self.known)
    }

    pub(crate) fn take_undiscovered(&mut self) -> BTreeSet<Key> {
        std::mem::take(&mut self.undiscovered)
    }

    pub(crate) fn defer_undiscovered(&mut self, keys: impl IntoIterator<Item = Key>) {
        self.undiscovered.extend(keys);
    }
}

#[cfg(test)]
mod tests;
