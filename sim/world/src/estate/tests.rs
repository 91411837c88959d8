use super::*;
use drsim_engine::inventory::{EntityKey, PowerState};

fn estate() -> Estate {
    let mut e = Estate::default();
    e.put(
        Entity::ConfigServer(ConfigServerView {
            running: true,
            connected_to_azure: true,
            vcenters: vec!["vc1".into()],
            version: 9,
            registrations: vec![],
        }),
        Visibility::Known,
    );
    e.put(
        Entity::VCenter(VCenterView {
            name: "vc1".into(),
            connected: true,
            account: DiscoveryAccount::Full,
        }),
        Visibility::Known,
    );
    e.put(
        Entity::Host(HostView {
            name: "esx1".into(),
            vcenter: "vc1".into(),
            kind: HostKind::Esxi,
            version: "7.0".into(),
            edition: HostEdition::Licensed,
            up: true,
            memory_free_mib: 1024,
            mounts: Default::default(),
        }),
        Visibility::Known,
    );
    e.put(
        Entity::OnPremVm(OnPremVmView {
            name: "vm1".into(),
            host: "esx1".into(),
            power: PowerState::Off,
            disks: vec![],
            enable_uuid: true,
            snapshots: 0,
            agent_registered: false,
        }),
        Visibility::Known,
    );
    e
}

fn vm_power(d: &InventoryDelta) -> Option<PowerState> {
    d.upserts.iter().find_map(|e| match e {
        Entity::OnPremVm(v) => Some(v.power),
        _ => None,
    })
}

#[test]
fn known_changes_are_reported_at_once_and_hidden_ones_at_discovery() {
    let disc = Discovery::default();
    let mut e = estate();
    assert_eq!(disc.known_delta(&mut e).upserts.len(), 4);
    e.onprem_mut(&"vm1".into(), Visibility::Discovered)
        .unwrap()
        .power = PowerState::On;
    assert!(
        disc.known_delta(&mut e).upserts.is_empty(),
        "a VM powered on by hand is not known yet"
    );
    assert_eq!(vm_power(&disc.run(&mut e)), Some(PowerState::On));
    assert!(disc.run(&mut e).upserts.is_empty(), "reported once");
}

#[test]
fn a_disconnected_vcenter_or_a_down_cs_keeps_changes_pending() {
    let disc = Discovery::default();
    let mut e = estate();
    disc.known_delta(&mut e);
    e.vcenter_mut(&"vc1".into(), Visibility::Known)
        .unwrap()
        .connected = false;
    e.onprem_mut(&"vm1".into(), Visibility::Discovered)
        .unwrap()
        .power = PowerState::On;
    let d = disc.known_delta(&mut e);
    assert!(matches!(d.upserts.as_slice(), [Entity::VCenter(v)] if !v.connected));
    assert_eq!(
        vm_power(&disc.run(&mut e)),
        None,
        "vCenter disconnected: the VM is not seen"
    );
    e.vcenter_mut(&"vc1".into(), Visibility::Known)
        .unwrap()
        .connected = true;
    e.config_server_mut().unwrap().running = false;
    assert_eq!(
        vm_power(&disc.run(&mut e)),
        None,
        "CS down: nothing on-prem is seen"
    );
    e.config_server_mut().unwrap().running = true;
    assert_eq!(
        vm_power(&disc.run(&mut e)),
        Some(PowerState::On),
        "seen once both are back"
    );
}

#[test]
fn removals_are_reported() {
    let disc = Discovery::default();
    let mut e = estate();
    disc.known_delta(&mut e);
    e.remove(Key::OnPremVm("vm1".into()), Visibility::Discovered);
    let d = disc.run(&mut e);
    assert_eq!(d.removals, vec![EntityKey::OnPremVm("vm1".into())]);
}

#[test]
fn a_first_discovery_reports_everything() {
    let disc = Discovery::default();
    let mut e = estate();
    disc.known_delta(&mut e);
    e.mark_all_discovered();
    assert_eq!(disc.run(&mut e).upserts.len(), 4);
}
