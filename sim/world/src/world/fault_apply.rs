//! Applying and healing faults (see [`crate::faults`]). Changes the CS or Azure notice at once (a link, a
//! PS or MT heartbeat, the CS itself, an Azure VM) are `Known`; changes behind the CS's back (a snapshot,
//! a datastore, a host, a VM powered on by hand) wait for discovery.

use super::World;
use crate::estate::{Key, Visibility};
use crate::faults::Fault;
use crate::fluid::{ResyncReason, ResyncSize};
use crate::network::{LinkState, NodeState};
use drsim_engine::ids::*;
use drsim_engine::inventory::*;

impl World {
    pub(crate) fn fault_start(&mut self, i: usize) {
        let Some(spec) = self.faults.get(i).cloned() else {
            return;
        };
        self.active_faults.insert(i);
        self.catch_up();
        match spec.fault {
            Fault::LinkDown => {
                self.set_links(LinkState::Down);
                if let Some(n) = self.estate.network_mut() {
                    n.up = false;
                }
                // DOMAIN.md §4: a network failure during replication triggers a resync.
                self.each_stream(|w, item, d| {
                    if let Some(s) = w
                        .machines
                        .get_mut(item)
                        .and_then(|m| m.disks[d].stream.as_mut())
                    {
                        s.fluid
                            .mark_resync_required(w.kernel.now(), ResyncReason::NetworkFailure);
                    }
                });
            }
            Fault::LinkDegraded { capacity_permille } => {
                self.set_links(LinkState::Degraded {
                    capacity_permille: capacity_permille.clamp(1, 1000),
                });
                self.each_stream(|_, _, _| {});
            }
            Fault::ProcessServerCrash { process_server } => self.set_ps(&process_server, false),
            Fault::ConfigServerDown => {
                if let Some(cs) = self.estate.config_server_mut() {
                    cs.running = false;
                }
            }
            Fault::VCenterDisconnect { vcenter } => {
                if let Some(v) = self.estate.vcenter_mut(&vcenter, Visibility::Known) {
                    v.connected = false;
                }
            }
            Fault::MasterTargetReboot { master_target } => self.set_mt(&master_target, false),
            Fault::SnapshotOnMasterTarget { master_target } => {
                if let Some(m) = self
                    .estate
                    .master_target_mut(&master_target, Visibility::Discovered)
                {
                    m.snapshots += 1;
                }
            }
            Fault::DatastoreFull { datastore } => {
                if let Some(d) = self
                    .estate
                    .datastore_mut(&datastore, Visibility::Discovered)
                {
                    self.fault_saved.insert(i, d.free_bytes);
                    d.free_bytes = 0;
                }
            }
            Fault::DatastoreUnmounted { datastore, host } => {
                if let Some(h) = self.estate.host_mut(&host, Visibility::Discovered) {
                    h.mounts.remove(&datastore);
                }
            }
            Fault::HostDown { host } => {
                if let Some(h) = self.estate.host_mut(&host, Visibility::Discovered) {
                    h.up = false;
                }
                let vms: Vec<VmName> = self
                    .estate
                    .onprem_vms
                    .values()
                    .filter(|v| v.host == host && v.power == PowerState::On)
                    .map(|v| v.name.clone())
                    .collect();
                for vm in vms {
                    self.set_onprem_power_by_fault(&vm, PowerState::Off);
                }
                let mts: Vec<MasterTargetName> = self
                    .estate
                    .master_targets
                    .values()
                    .filter(|m| m.host == host)
                    .map(|m| m.name.clone())
                    .collect();
                for mt in mts {
                    self.set_mt(&mt, false);
                }
            }
            Fault::AzureVmHung { vm } => {
                // only a running VM can hang; one that is off stays off (and nothing is undone at heal)
                let power = self.estate.azure_vms.get(&vm).map(|v| v.power);
                if power == Some(PowerState::On) {
                    self.save_power(i, power, &vm);
                    self.set_azure_power_by_fault(&vm, PowerState::Hung)
                }
            }
            Fault::AzureVmDeleted { vm } => {
                self.set_azure_power_by_fault(&vm, PowerState::Off);
                self.estate.remove(Key::AzureVm(vm), Visibility::Known);
            }
            Fault::AgentDeregistered { vm } => {
                if let Some(v) = self.estate.azure_mut(&vm, Visibility::Known) {
                    v.agent_registered = false;
                }
            }
            Fault::OnPremPoweredOnByHand { vm } => {
                self.save_power(i, self.estate.onprem_vms.get(&vm).map(|v| v.power), &vm);
                self.set_onprem_power_by_fault(&vm, PowerState::On)
            }
            Fault::DiskResized {
                item,
                disk,
                new_size_bytes,
            } => {
                let now = self.now();
                self.account_machine(&item);
                if let Some(m) = self.machines.get_mut(&item)
                    && let Some(d) = m.disks.get_mut(disk)
                {
                    d.size_bytes = new_size_bytes.max(1);
                    d.used_bytes = d.used_bytes.min(d.size_bytes);
                    d.hot_region_bytes = d.hot_region_bytes.min(d.size_bytes);
                    let h = d.hot_region_bytes;
                    if let Some(s) = d.stream.as_mut() {
                        s.fluid.resize(now, d.size_bytes);
                        let written_bytes = s.fluid.backlog_bytes();
                        s.fluid.start_resync(
                            now,
                            ResyncReason::DiskResized,
                            ResyncSize::Differential {
                                written_bytes,
                                hot_region_bytes: h,
                            },
                        );
                    }
                }
                self.refresh_streams(&item);
            }
        }
    }

    pub(crate) fn fault_heal(&mut self, i: usize) {
        let Some(spec) = self.faults.get(i).cloned() else {
            return;
        };
        if !self.active_faults.remove(&i) || !spec.fault.heals() {
            return;
        }
        self.catch_up();
        match spec.fault {
            Fault::LinkDown => {
                self.set_links(LinkState::Up);
                if let Some(n) = self.estate.network_mut() {
                    n.up = true;
                }
                // The resync the failure triggered: only blocks whose checksums differ — what changed
                // since the copies last agreed, plus whatever an interrupted copy had not sent yet (a full
                // or differential copy cut by the failure resumes; it is not forgotten).
                self.each_stream(|w, item, d| {
                    let now = w.kernel.now();
                    if let Some(disk) = w.machines.get_mut(item).and_then(|m| m.disks.get_mut(d)) {
                        let h = disk.hot_region_bytes;
                        if let Some(s) = disk.stream.as_mut()
                            && s.fluid.resync_required().is_some()
                        {
                            let agreed = s.fluid.target_generation_bytes().unwrap_or(0);
                            let written_bytes = s.fluid.written_bytes().saturating_sub(agreed);
                            let unsent = s
                                .fluid
                                .resync_progress()
                                .map_or(0, |p| p.total_bytes.saturating_sub(p.sent_bytes));
                            let size = if unsent == 0 {
                                ResyncSize::Differential {
                                    written_bytes,
                                    hot_region_bytes: h,
                                }
                            } else {
                                let changed = crate::fluid::unique_changed_bytes(
                                    written_bytes,
                                    h,
                                    s.fluid.size_bytes(),
                                );
                                ResyncSize::Bytes(unsent.saturating_add(changed))
                            };
                            s.fluid
                                .start_resync(now, ResyncReason::NetworkFailure, size);
                        }
                    }
                });
            }
            Fault::LinkDegraded { .. } => {
                self.set_links(LinkState::Up);
                // backlogs built while degraded are sent at the full rate again
                self.each_stream(|_, _, _| {});
            }
            Fault::ProcessServerCrash { process_server } => self.set_ps(&process_server, true),
            Fault::ConfigServerDown => {
                if let Some(cs) = self.estate.config_server_mut() {
                    cs.running = true;
                }
            }
            Fault::VCenterDisconnect { vcenter } => {
                if let Some(v) = self.estate.vcenter_mut(&vcenter, Visibility::Known) {
                    v.connected = true;
                }
            }
            Fault::MasterTargetReboot { master_target } => self.set_mt(&master_target, true),
            Fault::SnapshotOnMasterTarget { master_target } => {
                if let Some(m) = self
                    .estate
                    .master_target_mut(&master_target, Visibility::Discovered)
                {
                    m.snapshots = m.snapshots.saturating_sub(1);
                }
            }
            Fault::DatastoreFull { datastore } => {
                let saved = self.fault_saved.remove(&i).unwrap_or(0);
                if let Some(d) = self
                    .estate
                    .datastore_mut(&datastore, Visibility::Discovered)
                {
                    d.free_bytes = saved;
                }
            }
            Fault::DatastoreUnmounted { datastore, host } => {
                if let Some(h) = self.estate.host_mut(&host, Visibility::Discovered) {
                    h.mounts.insert(datastore, MountAccess::ReadWrite);
                }
            }
            Fault::HostDown { host } => {
                if let Some(h) = self.estate.host_mut(&host, Visibility::Discovered) {
                    h.up = true;
                }
                let mts: Vec<MasterTargetName> = self
                    .estate
                    .master_targets
                    .values()
                    .filter(|m| m.host == host)
                    .map(|m| m.name.clone())
                    .collect();
                for mt in mts {
                    self.set_mt(&mt, true);
                }
            }
            Fault::AzureVmHung { vm } => {
                if let Some(prior) = self.unchanged_power(i, &vm) {
                    self.set_azure_power_by_fault(&vm, prior);
                }
            }
            Fault::AgentDeregistered { vm } => {
                let on = self
                    .estate
                    .azure_vms
                    .get(&vm)
                    .is_some_and(|v| v.power == PowerState::On);
                if let Some(v) = self.estate.azure_mut(&vm, Visibility::Known) {
                    v.agent_registered = on;
                }
            }
            Fault::OnPremPoweredOnByHand { vm } => {
                if let Some(prior) = self.unchanged_power(i, &vm) {
                    self.set_onprem_power_by_fault(&vm, prior);
                }
            }
            Fault::AzureVmDeleted { .. } | Fault::DiskResized { .. } => {}
        }
    }

    /// Another active fault that is the same as fault `i` (the same kind on the same VM).
    fn twin_active(&self, i: usize) -> Option<usize> {
        let f = &self.faults.get(i)?.fault;
        self.active_faults
            .iter()
            .copied()
            .find(|&j| j != i && self.faults.get(j).is_some_and(|g| g.fault == *f))
    }

    /// Remembers a VM's power before a power fault, with how often the engine had changed it. A fault
    /// that overlaps a twin (the same VM powered on by hand twice) keeps nothing: the first one's prior
    /// state is the one to restore when the last of them heals.
    fn save_power(&mut self, i: usize, prior: Option<PowerState>, vm: &VmName) {
        if self.twin_active(i).is_some() {
            return;
        }
        if let Some(p) = prior {
            let epoch = self.power_epoch.get(vm).copied().unwrap_or(0);
            self.fault_power.insert(i, (p, epoch));
        }
    }

    /// The power to restore at heal: the prior state, unless the engine changed the VM's power since
    /// (then the engine's state stands: healing must not undo a failback or a rollback).
    fn unchanged_power(&mut self, i: usize, vm: &VmName) -> Option<PowerState> {
        let (prior, epoch) = self.fault_power.remove(&i)?;
        if let Some(j) = self.twin_active(i) {
            // a twin still holds the VM: it restores the prior state when it heals
            self.fault_power.insert(j, (prior, epoch));
            return None;
        }
        (self.power_epoch.get(vm).copied().unwrap_or(0) == epoch).then_some(prior)
    }

    fn set_links(&mut self, state: LinkState) {
        let _ = self.net.set_link_state(self.paths.to_onprem, state);
        let _ = self.net.set_link_state(self.paths.to_azure, state);
    }

    fn set_ps(&mut self, ps: &ProcessServerName, up: bool) {
        if let Some(&n) = self.paths.ps.get(ps) {
            let _ = self
                .net
                .set_node_state(n, if up { NodeState::Up } else { NodeState::Down });
        }
        if let Some(p) = self.estate.process_server_mut(ps, Visibility::Known) {
            p.running = up;
            p.health = if up { Health::Ok } else { Health::Critical };
        }
        // streams through it stop, or catch up on their backlog, at the rates the network now gives
        self.each_stream(|_, _, _| {});
    }

    fn set_mt(&mut self, mt: &MasterTargetName, up: bool) {
        let was_up = self
            .estate
            .master_targets
            .get(mt)
            .is_some_and(|m| m.running);
        if was_up && !up {
            self.abandon_master_target_work(mt);
        }
        if let Some(&n) = self.paths.mt.get(mt) {
            let _ = self
                .net
                .set_node_state(n, if up { NodeState::Up } else { NodeState::Down });
        }
        if let Some(m) = self.estate.master_target_mut(mt, Visibility::Known) {
            m.running = up;
        }
        self.each_stream(|_, _, _| {});
    }

    fn set_onprem_power_by_fault(&mut self, vm: &VmName, p: PowerState) {
        self.apply_onprem_power(vm, p, Visibility::Discovered);
    }

    fn set_azure_power_by_fault(&mut self, vm: &VmName, p: PowerState) {
        let item = self.by_azure_vm.get(vm).cloned();
        if let Some(i) = &item {
            self.account_machine(i);
        }
        if let Some(v) = self.estate.azure_mut(vm, Visibility::Known) {
            v.power = p;
        }
        if let Some(i) = &item {
            self.sources_changed(i);
        }
    }

    /// Runs `f` on every replicating disk, then refreshes demands and wake-ups.
    fn each_stream(&mut self, mut f: impl FnMut(&mut World, &ItemId, usize)) {
        let items: Vec<ItemId> = self
            .machines
            .iter()
            .filter(|(_, m)| m.replication.is_some())
            .map(|(i, _)| i.clone())
            .collect();
        for item in items {
            let n = self.machines[&item].disks.len();
            for d in 0..n {
                if self.machines[&item].disks[d].stream.is_some() {
                    f(self, &item, d);
                }
            }
            self.refresh_streams(&item);
        }
    }

    /// Recomputes a machine's stream demands and wake-ups after its streams changed.
    fn refresh_streams(&mut self, item: &ItemId) {
        let n = self.machines.get(item).map_or(0, |m| m.disks.len());
        for d in 0..n {
            self.update_demand(item, d);
            self.reschedule_wake(item, d);
        }
    }
}
