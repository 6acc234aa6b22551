//! The states runs, run objects, rotations and their batches go through, as types. Each is
//! stored and shown as its snake_case name; `as_str` and `parse` are the only conversions.

use serde::{Deserialize, Serialize};

macro_rules! states {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

states! {
    /// A run: queued when created, running once it acts, then succeeded or failed.
    pub enum RunStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

impl RunStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed)
    }
}

states! {
    /// One object of a run. `applying` is written before the request is sent; an object
    /// still `applying` when its process died is `unknown` (the server may have it).
    pub enum ObjectStatus {
        Pending = "pending",
        Applying = "applying",
        Applied = "applied",
        Failed = "failed",
        Skipped = "skipped",
        Unknown = "unknown",
    }
}

states! {
    /// A rotation as a whole.
    pub enum RotationState {
        Running = "running",
        WaitingApproval = "waiting_approval",
        Paused = "paused",
        RollingBack = "rolling_back",
        Succeeded = "succeeded",
        Failed = "failed",
        Aborted = "aborted",
        RolledBack = "rolled_back",
    }
}

impl RotationState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Aborted | Self::RolledBack)
    }
}

states! {
    /// One batch of a rotation.
    pub enum BatchState {
        Pending = "pending",
        Applying = "applying",
        Restarting = "restarting",
        Healthy = "healthy",
        Failed = "failed",
    }
}

states! {
    /// One runtime within a rotation.
    pub enum RotationRuntimeState {
        Pending = "pending",
        Moved = "moved",
        Healthy = "healthy",
        Failed = "failed",
        RolledBack = "rolled_back",
    }
}

states! {
    /// A rotation's rollback, once started.
    pub enum RollbackState {
        Applying = "applying",
        Restarting = "restarting",
        Done = "done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree<T>(all: &[T], as_str: impl Fn(T) -> &'static str, parse: impl Fn(&str) -> Option<T>)
    where
        T: Serialize + Copy + PartialEq + std::fmt::Debug,
    {
        for &s in all {
            assert_eq!(serde_json::to_value(s).unwrap(), as_str(s), "serde and as_str agree");
            assert_eq!(parse(as_str(s)), Some(s));
        }
        assert_eq!(parse("nonsense"), None);
    }

    #[test]
    fn names_round_trip() {
        agree(RunStatus::ALL, RunStatus::as_str, RunStatus::parse);
        agree(ObjectStatus::ALL, ObjectStatus::as_str, ObjectStatus::parse);
        agree(RotationState::ALL, RotationState::as_str, RotationState::parse);
        agree(BatchState::ALL, BatchState::as_str, BatchState::parse);
        agree(RotationRuntimeState::ALL, RotationRuntimeState::as_str, RotationRuntimeState::parse);
        agree(RollbackState::ALL, RollbackState::as_str, RollbackState::parse);
        let terminal: Vec<_> = RotationState::ALL.iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal.len(), 4);
    }
}
