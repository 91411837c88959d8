//! Names of the things the engine talks about. Every name is a newtype over a string, so an item id can
//! never be passed where a datastore name is expected, and every one serialises as a plain JSON string.
//!
//! The string is a [`CompactString`]: a name of up to 24 bytes (every machine, VM and server name of a
//! generated fleet) lives inside the value, not on the heap. A B-tree keyed by names then compares the
//! keys in its node without following a pointer to each, and cloning a name allocates nothing: at
//! 10,000 machines those pointer chases missed the caches on every lookup (issue 6, the 10k/1k ratio).

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(pub CompactString);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(CompactString::from(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(CompactString::from(s))
            }
        }
    };
}

name_type!(
    /// A protected item: one machine as the vault knows it, whichever direction it replicates.
    ItemId
);
name_type!(
    /// A recovery plan (ordered groups of items; FB-08, RP-09).
    PlanId
);
name_type!(
    /// A replication group: VMs that share multi-VM consistent recovery points (RG-01…RG-04).
    GroupId
);
name_type!(
    /// A VM name: the on-premises VMware VM, or the failed-over Azure VM.
    VmName
);
name_type!(
    /// A vCenter Server.
    VCenterName
);
name_type!(
    /// An ESXi host (or, for NS-03, whatever kind of host the target is).
    HostName
);
name_type!(
    /// A datastore.
    DatastoreName
);
name_type!(
    /// A master target server on-premises.
    MasterTargetName
);
name_type!(
    /// A process server in Azure.
    ProcessServerName
);
name_type!(
    /// A retention drive (volume) on a master target.
    RetentionDriveName
);
name_type!(
    /// An Azure resource group.
    ResourceGroupName
);
name_type!(
    /// An Azure virtual network.
    VnetName
);

/// A job's number, unique within one engine, assigned in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // padded like a string, so timelines can align job columns
        f.pad(&format!("job-{}", self.0))
    }
}

/// An action's number, unique within one engine. The world answers each action with a result carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActionId(pub u64);

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "act-{}", self.0)
    }
}
