//! Executing the engine's actions against the estate: each takes a plausible time (±20 % jitter from the
//! `actions` stream) and fails the way the real thing fails — CS down (RP-01), vCenter disconnected
//! (RP-10 / FB-04), host short of memory (8038), datastore unreachable (8061), name collision (78052),
//! Azure VM not running (78093), a 61st disk on a master target (RP-14), a full datastore (CL-02).
//!
//! A result can also be lost: the action then takes no effect and nothing is ever reported, which only
//! the engine's timeout and retry get over (INV-LIVE). That happens when
//! - the action outlives the deadline the engine gave it (the engine has given up on it): only a final
//!   sync can, waiting for a backlog that cannot drain — a link, PS or MT down for longer than the engine's
//!   data-action timeout;
//! - the master target carrying it out goes down while it runs (it reboots, or its ESXi host fails):
//!   preparing a target on it, starting replication to it, a final sync through it, moving disks from it
//!   to the on-prem VM or back ([`World::abandon_master_target_work`]).

use super::plane::ResyncPlan;
use super::{Event, VmPoints, World};
use crate::estate::{Key, Visibility};
use crate::fluid::ResyncReason;
use drsim_engine::Millis;
use drsim_engine::error_code::ErrorCode;
use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use drsim_engine::protocol::*;
use drsim_engine::recovery_point::RecoveryPoint;
use drsim_engine::rules::RuleId;
use rand::RngExt;

type Outcome = Result<Option<RecoveryPoint>, ActionError>;

fn fail(rule: Option<RuleId>, code: ErrorCode, message: String, transient: bool) -> ActionError {
    ActionError {
        rule,
        code,
        message,
        transient,
    }
}

fn rule_fail(rule: RuleId, message: String) -> ActionError {
    fail(Some(rule), rule.code(), message, false)
}

impl World {
    /// How long an action takes, with jitter.
    pub(crate) fn action_duration(&mut self, kind: &ActionKind) -> Millis {
        let t = &self.timing;
        let base = match kind {
            ActionKind::PowerOffOnPremVm { .. } | ActionKind::PowerOnOnPremVm { .. } => t.power_ms,
            ActionKind::ShutdownAzureVm { .. }
            | ActionKind::StartAzureVm { .. }
            | ActionKind::DeleteAzureVm { .. } => t.azure_power_ms,
            ActionKind::FailoverToAzure { .. } => t.failover_ms,
            ActionKind::ConsolidateSnapshots { .. } => t.consolidate_ms,
            ActionKind::PrepareTarget { .. } => t.prepare_target_ms,
            ActionKind::RecoverOnPrem { .. } | ActionKind::RevertFailback { .. } => t.recover_ms,
            _ => t.control_ms,
        };
        let permille: u64 = self.action_rng.random_range(800..=1200);
        (base * permille / 1000).max(1)
    }

    /// An action's time is up: apply it and report its result.
    pub(crate) fn action_done(&mut self, id: ActionId) {
        let Some(req) = self.in_flight.remove(&id) else {
            return;
        };
        if self.now() > req.deadline_ms {
            // The engine has given up on it (and may have sent a retry): the operation is cancelled, so
            // it cannot take effect after the engine started undoing things.
            return;
        }
        // The result goes before anything the action caused (e.g. a sync report), as the engine expects.
        let mark = self.pending.len();
        let outcome = self.execute(id, req.deadline_ms, &req.kind);
        let result = match outcome {
            None => return, // the result comes later (a final sync waits for the backlog to drain)
            Some(Ok(point)) => ActionOutcome::Ok { point },
            Some(Err(e)) => ActionOutcome::Failed(e),
        };
        self.pending.insert(
            mark,
            Observation::ActionResult {
                id,
                outcome: result,
            },
        );
    }

    /// A master target went down (a reboot, its host down): what it was carrying out for the engine dies
    /// with it — the action takes no effect and its result is never reported. A final sync waiting on it
    /// for a backlog to drain is abandoned too.
    pub(crate) fn abandon_master_target_work(&mut self, mt: &MasterTargetName) {
        let lost: Vec<ActionId> = self
            .in_flight
            .iter()
            .filter(|(_, req)| self.carried_out_by(&req.kind).as_ref() == Some(mt))
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            self.in_flight.remove(&id);
        }
        for m in self.machines.values_mut() {
            let through = m
                .replication
                .as_ref()
                .and_then(|r| r.master_target.as_ref());
            if m.final_sync.is_some() && through == Some(mt) {
                m.final_sync = None;
            }
        }
    }

    /// The master target that carries an action out, if one does: the one a target is prepared on or
    /// replication starts to, or the one holding the machine's disks and points for a final sync, a
    /// recovery or its revert.
    fn carried_out_by(&self, kind: &ActionKind) -> Option<MasterTargetName> {
        match kind {
            ActionKind::PrepareTarget { master_target, .. } => Some(master_target.clone()),
            ActionKind::StartReplication {
                direction: Direction::ToOnPrem,
                master_target,
                ..
            } => master_target.clone(),
            ActionKind::FinalSync { item, .. }
            | ActionKind::RecoverOnPrem { item, .. }
            | ActionKind::RevertFailback { item } => self
                .machines
                .get(item)?
                .replication
                .as_ref()
                .and_then(|r| r.master_target.clone())
                .or_else(|| self.last_protection(item).1),
            _ => None,
        }
    }

    fn machine(&self, item: &ItemId) -> Result<&super::Machine, ActionError> {
        self.machines.get(item).ok_or_else(|| {
            fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("item `{item}` is unknown"),
                false,
            )
        })
    }

    fn cs_up(&self) -> Result<(), ActionError> {
        if self
            .estate
            .config_server
            .as_ref()
            .is_some_and(|c| c.running && c.connected_to_azure)
        {
            Ok(())
        } else {
            Err(fail(
                Some(RuleId::Rp01),
                RuleId::Rp01.code(),
                "the configuration server is not available".into(),
                true,
            ))
        }
    }

    fn vcenter_of_host_up(&self, host: &HostName, rule: RuleId) -> Result<(), ActionError> {
        self.cs_up()?;
        let h = self.estate.hosts.get(host).ok_or_else(|| {
            fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("host `{host}` does not exist"),
                false,
            )
        })?;
        if !self.estate.vcenter_reachable(&h.vcenter) {
            return Err(rule_fail(
                rule,
                format!("vCenter `{}` is not connected", h.vcenter),
            ));
        }
        if !h.up {
            return Err(fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("ESXi host `{host}` is down"),
                false,
            ));
        }
        Ok(())
    }

    fn onprem_vm(&self, vm: &VmName) -> Result<&OnPremVmView, ActionError> {
        self.estate.onprem_vms.get(vm).ok_or_else(|| {
            fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("on-premises VM `{vm}` does not exist"),
                false,
            )
        })
    }

    fn item_of_onprem(&self, vm: &VmName) -> Option<ItemId> {
        self.by_onprem_vm.get(vm).cloned()
    }

    fn item_of_azure(&self, vm: &VmName) -> Option<ItemId> {
        self.by_azure_vm.get(vm).cloned()
    }

    /// A power change of `vm` happened: a fault's saved power state from before it is stale.
    fn bump_power_epoch(&mut self, vm: &VmName) {
        match self.power_epoch.get_mut(vm) {
            Some(n) => *n += 1,
            None => {
                self.power_epoch.insert(vm.clone(), 1);
            }
        }
    }

    /// Applies the action; `None` when its result is deferred.
    fn execute(&mut self, id: ActionId, deadline_ms: Millis, kind: &ActionKind) -> Option<Outcome> {
        Some(match kind {
            ActionKind::PowerOffOnPremVm { vm } => self.power_onprem(vm, false),
            ActionKind::PowerOnOnPremVm { vm } => self.power_onprem(vm, true),
            ActionKind::ConsolidateSnapshots { vm } => self.consolidate(vm),
            ActionKind::ShutdownAzureVm { vm } => self.power_azure(vm, false),
            ActionKind::StartAzureVm { vm } => self.power_azure(vm, true),
            ActionKind::DeleteAzureVm { vm } => {
                if let Some(item) = self.item_of_azure(vm) {
                    self.account_machine(&item);
                    let from_azure = self.machines[&item]
                        .replication
                        .as_ref()
                        .is_some_and(|r| r.direction == Direction::ToOnPrem);
                    if from_azure {
                        self.stop_replication(&item);
                    }
                }
                self.estate
                    .remove(Key::AzureVm(vm.clone()), Visibility::Known);
                Ok(None)
            }
            ActionKind::FailoverToAzure { item, point_tag_ms } => {
                self.failover(item, *point_tag_ms)
            }
            ActionKind::PrepareTarget {
                item,
                master_target,
                datastore,
                mode,
                folder,
                disks,
            } => self.prepare_target(item, master_target, datastore, *mode, folder, disks),
            ActionKind::StartReplication {
                item,
                direction,
                process_server,
                master_target,
                mode,
                disks,
                ..
            } => self.start_replication_action(
                item,
                *direction,
                process_server.clone(),
                master_target.clone(),
                *mode,
                disks,
            ),
            ActionKind::StopReplication { item } | ActionKind::DisableReplication { item } => {
                self.stop_action(item)
            }
            ActionKind::FinalSync { item, tag_ms } => {
                let azure_on = self.machines.get(item).is_some_and(|m| {
                    self.estate
                        .azure_vms
                        .get(&m.azure_vm)
                        .is_some_and(|v| v.power != PowerState::Off)
                });
                if azure_on {
                    return Some(Err(rule_fail(
                        RuleId::Fb02,
                        format!("the Azure VM of `{item}` still runs; no final sync"),
                    )));
                }
                match self.machines.get_mut(item) {
                    Some(m) if m.replication.is_some() => {
                        m.final_sync = Some((id, *tag_ms, deadline_ms))
                    }
                    _ => {
                        return Some(Err(fail(
                            None,
                            ErrorCode::INFRASTRUCTURE,
                            format!("item `{item}` does not replicate"),
                            false,
                        )));
                    }
                }
                self.try_finish_final_sync(item);
                return None;
            }
            ActionKind::RecoverOnPrem {
                item,
                vm,
                point_tag_ms,
                ..
            } => self.recover_onprem(item, vm, *point_tag_ms),
            ActionKind::RevertFailback { item } => self.revert_failback(item),
            ActionKind::CommitRecovery { item, .. } => {
                // Commit deletes the other points: nothing is kept on the MT any more.
                if let Some(m) = self.machines.get_mut(item) {
                    m.kept = None;
                    if let Some(r) = m.replication.as_mut() {
                        r.points.clear();
                    }
                }
                Ok(None)
            }
            ActionKind::RefreshDiscovery => self.refresh_discovery(),
        })
    }

    fn consolidate(&mut self, vm: &VmName) -> Outcome {
        let host = self.onprem_vm(vm)?.host.clone();
        self.vcenter_of_host_up(&host, RuleId::Rp10)?;
        if let Some(v) = self.estate.onprem_mut(vm, Visibility::Known) {
            v.snapshots = 0;
        }
        Ok(None)
    }

    fn stop_action(&mut self, item: &ItemId) -> Outcome {
        self.cs_up()?;
        self.stop_replication(item);
        self.set_attached(item, None);
        Ok(None)
    }

    fn refresh_discovery(&mut self) -> Outcome {
        self.cs_up()?;
        let delta = self.discovery.run(&mut self.estate);
        if !delta.upserts.is_empty() || !delta.removals.is_empty() {
            self.pending.push(Observation::Inventory(delta));
        }
        Ok(None)
    }

    fn power_onprem(&mut self, vm: &VmName, on: bool) -> Outcome {
        let v = self.onprem_vm(vm)?;
        let host = v.host.clone();
        let was_on = v.power == PowerState::On;
        self.vcenter_of_host_up(&host, if on { RuleId::Fb04 } else { RuleId::Rp10 })?;
        let memory = self.estate.vm_memory_mib.get(vm).copied().unwrap_or(0);
        if on && !was_on {
            let free = self
                .estate
                .hosts
                .get(&host)
                .map_or(0, |h| h.memory_free_mib);
            if free < memory {
                return Err(rule_fail(
                    RuleId::Fb05,
                    format!("ESXi host `{host}` has {free} MiB free; VM `{vm}` needs {memory} MiB"),
                ));
            }
        }
        let state = if on { PowerState::On } else { PowerState::Off };
        self.apply_onprem_power(vm, state, Visibility::Known);
        self.bump_power_epoch(vm);
        Ok(None)
    }

    /// Every power change of an on-prem VM, by the engine or by a fault: the generations are accounted up
    /// to now, the host's free memory follows (FB-05), the agent deregisters at power-off and registers
    /// again up to 15 minutes after a boot (RP-04, RA-03), and the machine's streams learn whether their
    /// source runs.
    pub(crate) fn apply_onprem_power(&mut self, vm: &VmName, state: PowerState, v: Visibility) {
        let Some(before) = self
            .estate
            .onprem_vms
            .get(vm)
            .map(|x| (x.power, x.host.clone()))
        else {
            return;
        };
        let (was, host) = before;
        let item = self.item_of_onprem(vm);
        if let Some(i) = &item {
            self.account_machine(i);
        }
        let memory = self.estate.vm_memory_mib.get(vm).copied().unwrap_or(0);
        let (was_on, on) = (was != PowerState::Off, state != PowerState::Off);
        if was_on != on
            && let Some(h) = self.estate.host_mut(&host, v)
        {
            h.memory_free_mib = if on {
                h.memory_free_mib.saturating_sub(memory)
            } else {
                h.memory_free_mib + memory
            };
        }
        if let Some(x) = self.estate.onprem_mut(vm, v) {
            x.power = state;
            if !on {
                x.agent_registered = false;
            }
        }
        if on && !was_on {
            let lag = self
                .agent_rng
                .random_range(60_000..=self.timing.agent_lag_max_ms.max(60_000));
            self.schedule(
                self.now() + lag,
                Event::AgentRegistered {
                    vm: vm.clone(),
                    azure: false,
                },
            );
        }
        if let Some(i) = &item {
            self.sources_changed(i);
        }
    }

    fn power_azure(&mut self, vm: &VmName, on: bool) -> Outcome {
        let Some(v) = self.estate.azure_vms.get(vm) else {
            return Err(rule_fail(
                RuleId::Ns06,
                format!("Azure VM `{vm}` does not exist"),
            ));
        };
        if v.power == PowerState::Hung {
            return Err(fail(
                Some(RuleId::Rp05),
                RuleId::Rp05.code(),
                format!("Azure VM `{vm}` is not responding"),
                true,
            ));
        }
        let item = self.item_of_azure(vm);
        if let Some(i) = &item {
            self.account_machine(i);
            if !on {
                let gens = self.machines[i]
                    .disks
                    .iter()
                    .map(|d| d.azure_generation)
                    .collect();
                self.machines
                    .get_mut(i)
                    .expect("exists")
                    .azure_generation_at_shutdown = Some(gens);
            }
        }
        if let Some(v) = self.estate.azure_mut(vm, Visibility::Known) {
            v.power = if on { PowerState::On } else { PowerState::Off };
        }
        self.bump_power_epoch(vm);
        if let Some(i) = &item {
            if on {
                // A started source makes a pending final sync meaningless (the engine gave up on it).
                if let Some(m) = self.machines.get_mut(i) {
                    m.final_sync = None;
                }
            }
            self.sources_changed(i);
        }
        Ok(None)
    }

    fn failover(&mut self, item: &ItemId, point_tag_ms: Option<Millis>) -> Outcome {
        if !self.machines.contains_key(item) {
            return Err(fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("item `{item}` is unknown to Azure"),
                false,
            ));
        }
        self.collect_points(item);
        let m = self.machines.get(item).expect("exists");
        // The Azure copy holds the chosen point, or whatever reached Azure last (latest processed).
        let point = m.replication.as_ref().and_then(|r| match point_tag_ms {
            Some(t) => r.points.find(t).map(|p| p.to_point()),
            None => r.points.back().map(|p| p.to_point()),
        });
        let gens: Vec<u64> = match (&point, m.replication.as_ref()) {
            (Some(p), Some(r)) => {
                let mut g: Vec<u64> = m.disks.iter().map(|d| d.azure_generation).collect();
                for (k, &d) in r.disks.iter().enumerate() {
                    g[d] = p.generations[k];
                }
                g
            }
            _ => m.disks.iter().map(|d| d.azure_generation).collect(),
        };
        let azure = m.azure_vm.clone();
        self.stop_replication(item);
        let m = self.machines.get_mut(item).expect("exists");
        for (d, g) in m.disks.iter_mut().zip(gens) {
            d.azure_generation = g;
        }
        // Failover creates the Azure VM (or starts the one a test failover left).
        let mut vm = (*self.machines[item].azure_template).clone();
        vm.power = PowerState::On;
        vm.agent_registered = false;
        self.estate.put(Entity::AzureVm(vm), Visibility::Known);
        self.bump_power_epoch(&azure);
        let lag = self
            .agent_rng
            .random_range(60_000..=self.timing.agent_lag_max_ms.max(60_000));
        self.schedule(
            self.now() + lag,
            Event::AgentRegistered {
                vm: azure,
                azure: true,
            },
        );
        Ok(None)
    }

    fn prepare_target(
        &mut self,
        item: &ItemId,
        mt: &MasterTargetName,
        ds: &DatastoreName,
        mode: RecoveryMode,
        folder: &str,
        disks: &[String],
    ) -> Outcome {
        let m_view = self
            .estate
            .master_targets
            .get(mt)
            .ok_or_else(|| {
                fail(
                    None,
                    ErrorCode::INFRASTRUCTURE,
                    format!("master target `{mt}` does not exist"),
                    false,
                )
            })?
            .clone();
        self.vcenter_of_host_up(&m_view.host, RuleId::Rp10)?;
        if !m_view.running {
            return Err(fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("master target `{mt}` is not running"),
                true,
            ));
        }
        let host = self
            .estate
            .hosts
            .get(&m_view.host)
            .cloned()
            .expect("checked above");
        if host.mounts.get(ds) != Some(&MountAccess::ReadWrite)
            || !self.estate.datastores.contains_key(ds)
        {
            return Err(rule_fail(
                RuleId::Rp12,
                format!(
                    "datastore `{ds}` is not reachable read/write from ESXi host `{}`",
                    host.name
                ),
            ));
        }
        let machine = self.machine(item)?;
        let onprem = machine.onprem_vm.clone();
        if mode == RecoveryMode::Alternate
            && self
                .estate
                .onprem_vms
                .get(&onprem)
                .is_some_and(|v| v.host == m_view.host)
        {
            return Err(rule_fail(
                RuleId::Rp16,
                format!(
                    "a VM named `{onprem}` already exists on ESXi host `{}`",
                    m_view.host
                ),
            ));
        }
        let n = disks.len() as u32;
        let own = (machine.attached.as_ref())
            .filter(|(m, _)| m == mt)
            .map_or(0, |(_, k)| *k);
        let attached = self.mt_attached.get(mt).copied().unwrap_or(0) - own;
        if self.enforce_mt_disk_limit && m_view.own_disks + attached + n > 60 {
            return Err(rule_fail(
                RuleId::Rp14,
                format!(
                    "master target `{mt}` cannot attach {n} more disks: {} attached",
                    m_view.own_disks + attached
                ),
            ));
        }
        let needed: u64 = if mode == RecoveryMode::Alternate {
            machine
                .disks
                .iter()
                .filter(|d| disks.contains(&d.name))
                .map(|d| d.size_bytes)
                .sum()
        } else {
            0
        };
        let free = self.estate.datastores.get(ds).map_or(0, |d| d.free_bytes);
        if free < needed {
            return Err(rule_fail(
                RuleId::Cl02,
                format!("datastore `{ds}` has {free} bytes free; {needed} needed"),
            ));
        }
        if needed > 0
            && let Some(d) = self.estate.datastore_mut(ds, Visibility::Known)
        {
            d.free_bytes -= needed;
            d.folders.push(folder.to_owned());
        }
        self.set_attached(item, Some((mt.clone(), n)));
        let m = self.machines.get_mut(item).expect("exists");
        if mode == RecoveryMode::Alternate {
            m.alr_vm = Some(Box::new((
                m_view.host.clone(),
                ds.clone(),
                folder.to_owned(),
            )));
        }
        Ok(None)
    }

    fn start_replication_action(
        &mut self,
        item: &ItemId,
        direction: Direction,
        ps: Option<ProcessServerName>,
        mt: Option<MasterTargetName>,
        mode: RecoveryMode,
        disks: &[String],
    ) -> Outcome {
        self.cs_up()?;
        if direction == Direction::ToOnPrem
            && let Some(m) = self.machines.get(item)
            && self
                .estate
                .azure_vms
                .get(&m.azure_vm)
                .is_none_or(|v| v.power != PowerState::On)
        {
            return Err(rule_fail(
                RuleId::Rp05,
                format!("Azure VM `{}` is not running", m.azure_vm),
            ));
        }
        if direction == Direction::ToOnPrem && self.estate.network.is_none_or(|n| !n.up) {
            return Err(rule_fail(
                RuleId::Rp03,
                format!("no network path from Azure to the configuration server for `{item}`"),
            ));
        }
        if let Some(p) = &ps
            && !self
                .estate
                .process_servers
                .get(p)
                .is_some_and(|p| p.running)
        {
            return Err(fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("process server `{p}` is not running"),
                true,
            ));
        }
        if let Some(m) = &mt
            && !self.estate.master_targets.get(m).is_some_and(|m| m.running)
        {
            return Err(fail(
                None,
                ErrorCode::INFRASTRUCTURE,
                format!("master target `{m}` is not running"),
                true,
            ));
        }
        let machine = self.machine(item)?;
        let idx: Vec<usize> = match direction {
            Direction::ToOnPrem => machine
                .disks
                .iter()
                .enumerate()
                .filter(|(_, d)| disks.contains(&d.name))
                .map(|(i, _)| i)
                .collect(),
            Direction::ToAzure => (0..machine.disks.len()).collect(),
        };
        let plan = match (direction, mode) {
            (Direction::ToAzure, _) => ResyncPlan::Full(ResyncReason::InitialReplication),
            (Direction::ToOnPrem, RecoveryMode::Alternate) => {
                ResyncPlan::Full(ResyncReason::Reprotect)
            }
            (Direction::ToOnPrem, RecoveryMode::Original) => {
                ResyncPlan::Differential { full_copy: false }
            }
        };
        self.start_replication(item, direction, ps, mt, mode, &idx, Some(plan));
        self.check_sync_done(item);
        Ok(None)
    }

    fn recover_onprem(&mut self, item: &ItemId, vm: &VmName, tag: Millis) -> Outcome {
        let m = self.machine(item)?;
        // ALR recovers into the VM created on the MT's host, even when the old VM still exists elsewhere
        // (the user chose an alternate location, RJ-04); OLR into the original VM.
        let alr = m.alr_vm.is_some();
        let host = match (m.alr_vm.as_deref(), self.estate.onprem_vms.get(vm)) {
            (Some((h, _, _)), _) => h.clone(),
            (None, Some(v)) => v.host.clone(),
            (None, None) => {
                return Err(fail(
                    None,
                    ErrorCode::INFRASTRUCTURE,
                    format!("no VM `{vm}` to recover into"),
                    false,
                ));
            }
        };
        self.vcenter_of_host_up(&host, RuleId::Fb04)?;
        self.collect_points(item);
        let m = self.machines.get(item).expect("exists");
        // The MT's points: those of the running replication, or those kept since the disks moved to the
        // on-prem VM (a change of recovery point before commit).
        let points = match (&m.replication, &m.kept) {
            (Some(r), _) => &r.points,
            (None, Some(p)) => p,
            (None, None) => {
                return Err(fail(
                    None,
                    ErrorCode::INFRASTRUCTURE,
                    format!("item `{item}` has no recovery points on a master target"),
                    false,
                ));
            }
        };
        let Some(point) = points.find(tag).map(|p| p.to_point()) else {
            return Err(rule_fail(
                RuleId::Fb03,
                format!("recovery point {tag} of `{item}` is not on the master target"),
            ));
        };
        // The replication's points move to `kept` (the replication stops; no copy of a fleet's points).
        let moved = (self
            .machines
            .get_mut(item)
            .expect("exists")
            .replication
            .as_mut())
        .map(|r| std::mem::replace(&mut r.points, VmPoints::new(&r.disks)));
        self.stop_replication(item);
        self.set_attached(item, None);
        let m = self.machines.get_mut(item).expect("exists");
        if let Some(points) = moved {
            m.kept = Some(Box::new(points));
        }
        for (k, &d) in point.disks.iter().enumerate() {
            m.disks[d].onprem_generation = point.generations[k];
        }
        m.recovered_point = Some(Box::new(point));
        let disk_views: Vec<OnPremDiskView> = m
            .disks
            .iter()
            .map(|d| OnPremDiskView {
                uuid: d.name.clone(),
                size_bytes: d.size_bytes,
                rdm: false,
            })
            .collect();
        if alr && let Some(old) = self.estate.onprem_vms.get(vm) {
            // the VM on the MT's host takes the name's place in the inventory (names are unique here);
            // the old VM is left behind, powered off
            let mut v = old.clone();
            v.host = host;
            v.disks = disk_views;
            v.power = PowerState::Off;
            self.estate.put(Entity::OnPremVm(v), Visibility::Known);
        } else if !self.estate.onprem_vms.contains_key(vm) {
            // ALR: the VM created on the MT's host becomes the machine's on-prem VM (RJ-04).
            self.estate.put(
                Entity::OnPremVm(OnPremVmView {
                    name: vm.clone(),
                    host,
                    power: PowerState::Off,
                    disks: disk_views,
                    enable_uuid: true,
                    snapshots: 0,
                    agent_registered: false,
                }),
                Visibility::Known,
            );
            self.by_onprem_vm.insert(vm.clone(), item.clone());
            self.machines.get_mut(item).expect("exists").onprem_vm = vm.clone();
        }
        Ok(None)
    }

    fn revert_failback(&mut self, item: &ItemId) -> Outcome {
        let m = self.machine(item)?;
        let host = self
            .estate
            .onprem_vms
            .get(&m.onprem_vm)
            .map(|v| v.host.clone());
        if let Some(h) = host {
            self.vcenter_of_host_up(&h, RuleId::Fb04)?;
        }
        // Disks go back to the MT; replication resumes with what changed (FB-07).
        let m = self.machines.get(item).expect("exists");
        if m.replication.is_some() {
            return Ok(None); // nothing moved yet
        }
        // The disks that replicated before (RP-19 / RJ-09 exclusions kept) and the MT's points.
        let mm = self.machines.get_mut(item).expect("exists");
        let points = (mm.kept.take()).map_or_else(
            || VmPoints::new(&(0..mm.disks.len()).collect::<Vec<_>>()),
            |p| *p,
        );
        let disks = points.disks().to_vec();
        mm.recovered_point = None;
        let (ps, mt) = self.last_protection(item);
        if let Some(mt) = &mt {
            self.set_attached(item, Some((mt.clone(), disks.len() as u32)));
        }
        self.start_replication(
            item,
            Direction::ToOnPrem,
            ps,
            mt,
            RecoveryMode::Original,
            &disks,
            Some(ResyncPlan::Differential { full_copy: false }),
        );
        if let Some(r) = self
            .machines
            .get_mut(item)
            .and_then(|m| m.replication.as_mut())
        {
            r.points = points;
        }
        self.check_sync_done(item);
        Ok(None)
    }

    /// The PS and MT of the machine's last Azure → on-prem replication, from its flows' history.
    fn last_protection(
        &self,
        item: &ItemId,
    ) -> (Option<ProcessServerName>, Option<MasterTargetName>) {
        self.last_paths.get(item).cloned().unwrap_or((None, None))
    }
}
