//! Generated wire types (build.rs compiles proto/). Module names are etcd's protobuf packages so
//! that cross-package references in the generated code (`super::mvccpb::KeyValue`) resolve.

// Generated code; the schema holds every etcd service, including ones this build does not serve yet.
#![allow(clippy::all, clippy::pedantic, dead_code)]

pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
}
pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
}
pub mod etcdserverpb {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}
pub mod leasepb {
    include!(concat!(env!("OUT_DIR"), "/leasepb.rs"));
}
pub mod raftpb {
    include!(concat!(env!("OUT_DIR"), "/raftpb.rs"));
}
pub mod walpb {
    include!(concat!(env!("OUT_DIR"), "/walpb.rs"));
}
pub mod v3lockpb {
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.rs"));
}
pub mod v3electionpb {
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.rs"));
}
