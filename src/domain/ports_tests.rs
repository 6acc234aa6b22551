//! Tables for the port allocator: several runtimes, updates, overrides, exhaustion.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::*;
use crate::domain::manifest::tests::seed_patched;
use PortName::*;

/// A runtime with one master (the seed has three) patched with `patch`.
fn runtime(patch: Value) -> AlluxioRuntime {
    let mut rt = seed_patched(json!({"spec": {"master": {"replicas": 1}}}));
    let mut v = serde_json::to_value(&rt).unwrap();
    crate::domain::testutil::merge_patch(&mut v, &patch);
    rt = serde_json::from_value(v).unwrap();
    rt
}

const NINE: [PortName; 9] =
    [MasterRpc, MasterWeb, WorkerRpc, WorkerWeb, JobMasterRpc, JobMasterWeb, JobWorkerRpc, JobWorkerWeb, JobWorkerData];

fn range(first: u16, last: u16) -> PortRange {
    PortRange { first, last }
}

#[test]
fn needed_names_follow_fluids_count() {
    let cases: &[(&str, Value, Vec<PortName>)] = &[
        ("one master: nine", json!({}), NINE.to_vec()),
        ("api gateway: one more", json!({"spec": {"apiGateway": {"enabled": true}}}), {
            let mut v = NINE.to_vec();
            v.push(ApiGatewayRest);
            v
        }),
        ("three masters: two journal ports more", json!({"spec": {"master": {"replicas": 3}}}), {
            let mut v = NINE.to_vec();
            v.extend([MasterEmbedded, JobMasterEmbedded]);
            v
        }),
        (
            "overrides are not allocated",
            json!({"spec": {
                "properties": {"alluxio.master.rpc.port": "31000", "alluxio.job.worker.data.port": "x"},
                "worker": {"ports": {"web": 32000}},
            }}),
            vec![MasterWeb, WorkerRpc, JobMasterRpc, JobMasterWeb, JobWorkerRpc, JobWorkerWeb, JobWorkerData],
        ),
        (
            "container-network master pod binds no host port",
            json!({"spec": {"master": {"networkMode": "ContainerNetwork"}, "apiGateway": {"enabled": true}}}),
            vec![WorkerRpc, WorkerWeb, JobWorkerRpc, JobWorkerWeb, JobWorkerData],
        ),
        (
            "container-network worker pod binds no host port",
            json!({"spec": {"worker": {"networkMode": "ContainerNetwork"}}}),
            vec![MasterRpc, MasterWeb, JobMasterRpc, JobMasterWeb],
        ),
        (
            "job components follow their pod, not their own networkMode",
            json!({"spec": {"jobWorker": {"networkMode": "ContainerNetwork"}}}),
            NINE.to_vec(),
        ),
    ];
    for (name, patch, want) in cases {
        assert_eq!(needed(&runtime(patch.clone())), *want, "{name}");
    }
}

#[test]
fn overrides_properties_win_over_spec_ports() {
    let rt = runtime(json!({"spec": {
        "properties": {"alluxio.master.rpc.port": "31000"},
        "master": {"ports": {"rpc": 31001, "web": 31002}},
        "apiGateway": {"ports": {"rest": 31003}},
    }}));
    assert_eq!(
        overrides(&rt),
        BTreeMap::from([(MasterRpc, 31000), (MasterWeb, 31002)]),
        "the gateway's port counts only when it is enabled"
    );
}

#[test]
fn several_runtimes_get_disjoint_ports() {
    let runtimes = [
        runtime(json!({})),
        runtime(json!({"spec": {"master": {"replicas": 3}, "apiGateway": {"enabled": true}}})),
        runtime(json!({"spec": {"properties": {"alluxio.worker.rpc.port": "20100"}}})),
    ];
    let mut taken = BTreeSet::new();
    let mut all = Vec::new();
    for rt in &runtimes {
        let mut mine = taken.clone();
        mine.extend(overrides(rt).values());
        let got = allocate(PortRange::DEFAULT, &mine, &BTreeMap::new(), &needed(rt)).unwrap();
        taken.extend(host_ports(rt, &got));
        all.push(got);
    }
    let first: Vec<u16> = NINE.iter().map(|n| all[0][n]).collect();
    assert_eq!(first, (20000..20009).collect::<Vec<_>>(), "lowest free first, in Fluid's order");
    assert_eq!(all[1].len(), 12);
    assert_eq!(all[1][&MasterRpc], 20009);
    assert!(!all[2].values().any(|&p| p == 20100), "an override of this runtime is never allocated");
    let mut seen = BTreeSet::new();
    for (i, rt) in runtimes.iter().enumerate() {
        for p in host_ports(rt, &all[i]) {
            assert!(seen.insert(p), "port {p} given twice");
        }
    }
    assert_eq!(seen.len(), 9 + 12 + 9);
}

#[test]
fn updates_keep_previous_ports() {
    let rt = runtime(json!({}));
    let before = allocate(PortRange::DEFAULT, &BTreeSet::new(), &BTreeMap::new(), &needed(&rt)).unwrap();

    // Same runtime, another runtime took ports in between: nothing moves.
    let taken: BTreeSet<u16> = (20009..20020).collect();
    assert_eq!(allocate(PortRange::DEFAULT, &taken, &before, &needed(&rt)).unwrap(), before);

    // The gateway is enabled: only its port is new, and it is the lowest free one.
    let with_gateway = runtime(json!({"spec": {"apiGateway": {"enabled": true}}}));
    let after = allocate(PortRange::DEFAULT, &taken, &before, &needed(&with_gateway)).unwrap();
    assert_eq!(after[&ApiGatewayRest], 20020);
    for (name, port) in &before {
        assert_eq!(after[name], *port, "{name} kept its port");
    }

    // An override replaces an allocation: the name is dropped, the others stay.
    let overridden = runtime(json!({"spec": {"master": {"ports": {"web": 30500}}}}));
    let after = allocate(PortRange::DEFAULT, &taken, &before, &needed(&overridden)).unwrap();
    assert!(!after.contains_key(&MasterWeb));
    assert_eq!(after[&MasterRpc], before[&MasterRpc]);
}

#[test]
fn growing_from_one_to_three_masters_adds_two_ports() {
    let one = runtime(json!({}));
    let before = allocate(PortRange::DEFAULT, &BTreeSet::new(), &BTreeMap::new(), &needed(&one)).unwrap();
    let three = runtime(json!({"spec": {"master": {"replicas": 3}}}));
    let taken = BTreeSet::from([20009]);
    let after = allocate(PortRange::DEFAULT, &taken, &before, &needed(&three)).unwrap();
    assert_eq!(after.len(), 11);
    assert_eq!((after[&MasterEmbedded], after[&JobMasterEmbedded]), (20010, 20011));
    assert!(before.iter().all(|(n, p)| after[n] == *p));
    // And back to one: the journal ports are released.
    let back = allocate(PortRange::DEFAULT, &taken, &after, &needed(&one)).unwrap();
    assert_eq!(back, before);
}

#[test]
fn previous_ports_that_are_no_longer_usable_move() {
    let names = [MasterRpc, MasterWeb];
    let previous = BTreeMap::from([(MasterRpc, 20000), (MasterWeb, 19000)]);
    let cases: &[(&str, BTreeSet<u16>, PortRange, [u16; 2])] = &[
        ("kept", BTreeSet::new(), range(19000, 21000), [20000, 19000]),
        ("outside a narrowed range", BTreeSet::new(), range(20000, 21000), [20000, 20001]),
        ("taken by another runtime since", BTreeSet::from([20000]), range(19000, 21000), [19001, 19000]),
    ];
    for (name, taken, r, want) in cases {
        let got = allocate(*r, taken, &previous, &names).unwrap();
        assert_eq!([got[&MasterRpc], got[&MasterWeb]], *want, "{name}");
    }
}

#[test]
fn exhaustion_is_reported() {
    let rt = runtime(json!({}));
    let cases: &[(&str, PortRange, BTreeSet<u16>, Exhausted)] = &[
        (
            "range too small",
            range(20000, 20005),
            BTreeSet::new(),
            Exhausted { range: range(20000, 20005), needed: 9, free: 6 },
        ),
        (
            "range used up by others",
            range(20000, 20010),
            (20000..20008).collect(),
            Exhausted { range: range(20000, 20010), needed: 9, free: 3 },
        ),
    ];
    for (name, r, taken, want) in cases {
        let err = allocate(*r, taken, &BTreeMap::new(), &needed(&rt)).unwrap_err();
        assert_eq!(err, *want, "{name}");
    }
    let err = allocate(range(20000, 20001), &BTreeSet::new(), &BTreeMap::new(), &needed(&rt)).unwrap_err();
    assert_eq!(err.to_string(), "host port range 20000-20001 is exhausted: 9 more ports needed, 2 free");
    // Reused ports need no free ones: an exact fit still succeeds.
    let fit = allocate(range(20000, 20008), &BTreeSet::new(), &BTreeMap::new(), &needed(&rt)).unwrap();
    assert_eq!(allocate(range(20000, 20008), &BTreeSet::new(), &fit, &needed(&rt)).unwrap(), fit);
}

#[test]
fn port_ranges_parse() {
    let ok: &[(&str, (u16, u16))] =
        &[("20000-25000", (20000, 25000)), ("1-65535", (1, 65535)), ("8080", (8080, 8080)), (" 1 - 2 ", (1, 2))];
    for (s, (first, last)) in ok {
        assert_eq!(parse_port_range(s), Ok(range(*first, *last)), "{s}");
    }
    let bad: &[(&str, &str)] = &[
        ("25000-20000", "above the last"),
        ("0-100", "port 0"),
        ("20000-70000", "not a port range"),
        ("a-b", "not a port range"),
        ("+1-2", "not a port range"),
        ("", "not a port range"),
        ("1-2-3", "not a port range"),
    ];
    for (s, msg) in bad {
        let err = parse_port_range(s).unwrap_err();
        assert!(err.contains(msg), "{s}: {err}");
    }
    assert_eq!(PortRange::DEFAULT.to_string(), "20000-25000");
    assert_eq!(PortRange::DEFAULT.len(), 5001);
    assert_eq!("20000-25000".parse::<PortRange>(), Ok(PortRange::DEFAULT));
}

#[test]
fn port_names_round_trip() {
    for name in PortName::ALL {
        assert_eq!(name.as_str().parse::<PortName>(), Ok(name));
        assert_eq!(serde_json::to_value(name).unwrap(), json!(name.as_str()));
        let (component, port) = name.spec_key();
        assert_eq!(name.as_str(), format!("{component}.{port}"));
    }
    let map = BTreeMap::from([(MasterRpc, 20000u16)]);
    assert_eq!(serde_json::to_value(&map).unwrap(), json!({"master.rpc": 20000}));
    assert!("master.embeddedJournal".parse::<PortName>().is_err());
}
