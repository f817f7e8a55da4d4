//! etcdctl 3.4's command tree: names, usage lines, flags (with etcdctl's defaults and help
//! text, which its usage output shows) and the function that runs each command.

use super::flags::{flag, short, Kind, Spec};
use super::{
    auth, check, concurrency, fail, kv, lease, manage, member, migrate, mirror, snapshot,
    tabwriter, Ctl, Outcome, EXIT_BAD_FEATURE,
};

pub struct Command {
    /// Words that name it, e.g. "lease grant".
    pub path: &'static str,
    pub usage: &'static str,
    pub short: &'static str,
    pub long: &'static str,
    pub flags: &'static [&'static Spec],
    /// Flags declared on the parent and inherited (etcdctl's persistent flags, e.g. --cluster).
    pub inherited: &'static [&'static Spec],
    pub run: fn(&mut Ctl) -> Outcome,
}

impl Command {
    pub fn all_flags(&self) -> Vec<&'static Spec> {
        let mut all: Vec<&'static Spec> = vec![&HELP];
        all.extend(self.flags.iter().copied());
        all.extend(self.inherited.iter().copied());
        all.extend(GLOBAL_FLAGS.iter());
        all
    }

    fn name(&self) -> &'static str {
        self.path.rsplit(' ').next().unwrap_or(self.path)
    }
}

static HELP: Spec = short("help", 'h', Kind::Bool, "false", "");

pub static GLOBAL_FLAGS: &[Spec] = &[
    flag("cacert", Kind::String, "", "verify certificates of TLS-enabled secure servers using this CA bundle"),
    flag("cert", Kind::String, "", "identify secure client using this TLS certificate file"),
    flag("command-timeout", Kind::Duration, "5s", "timeout for short running command (excluding dial timeout)"),
    flag("debug", Kind::Bool, "false", "enable client-side debug logging"),
    flag("dial-timeout", Kind::Duration, "2s", "dial timeout for client connections"),
    short("discovery-srv", 'd', Kind::String, "", "domain name to query for SRV records describing cluster endpoints"),
    flag("discovery-srv-name", Kind::String, "", "service name to query when using DNS discovery"),
    flag("endpoints", Kind::Strings, "[127.0.0.1:2379]", "gRPC endpoints"),
    flag("hex", Kind::Bool, "false", "print byte strings as hex encoded strings"),
    flag("insecure-discovery", Kind::Bool, "true", "accept insecure SRV records describing cluster endpoints"),
    flag("insecure-skip-tls-verify", Kind::Bool, "false", "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)"),
    flag("insecure-transport", Kind::Bool, "true", "disable transport security for client connections"),
    flag("keepalive-time", Kind::Duration, "2s", "keepalive time for client connections"),
    flag("keepalive-timeout", Kind::Duration, "6s", "keepalive timeout for client connections"),
    flag("key", Kind::String, "", "identify secure client using this TLS key file"),
    flag("password", Kind::String, "", "password for authentication (if this option is used, --user option shouldn't include password)"),
    flag("user", Kind::String, "", "username[:password] for authentication (prompt if password is not supplied)"),
    short("write-out", 'w', Kind::String, "simple", "set the output format (fields, json, protobuf, simple, table)"),
];

static PREFIX_GET: Spec = flag(
    "prefix",
    Kind::Bool,
    "false",
    "Get keys with matching prefix",
);
static FROM_KEY_GET: Spec = flag(
    "from-key",
    Kind::Bool,
    "false",
    "Get keys that are greater than or equal to the given key using byte compare",
);
static GET_FLAGS: &[&Spec] = &[
    &flag(
        "consistency",
        Kind::String,
        "l",
        "Linearizable(l) or Serializable(s)",
    ),
    &flag(
        "order",
        Kind::String,
        "",
        "Order of results; ASCEND or DESCEND (ASCEND by default)",
    ),
    &flag(
        "sort-by",
        Kind::String,
        "",
        "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION",
    ),
    &flag("limit", Kind::Int, "0", "Maximum number of results"),
    &PREFIX_GET,
    &FROM_KEY_GET,
    &flag("rev", Kind::Int, "0", "Specify the kv revision"),
    &flag("keys-only", Kind::Bool, "false", "Get only the keys"),
    &flag(
        "print-value-only",
        Kind::Bool,
        "false",
        "Only write values when using the \"simple\" output format",
    ),
];
pub static PUT_FLAGS: &[&Spec] = &[
    &flag(
        "lease",
        Kind::String,
        "0",
        "lease ID (in hexadecimal) to attach to the key",
    ),
    &flag(
        "prev-kv",
        Kind::Bool,
        "false",
        "return the previous key-value pair before modification",
    ),
    &flag(
        "ignore-value",
        Kind::Bool,
        "false",
        "updates the key using its current value",
    ),
    &flag(
        "ignore-lease",
        Kind::Bool,
        "false",
        "updates the key using its current lease",
    ),
];
pub static DEL_FLAGS: &[&Spec] = &[
    &flag(
        "prefix",
        Kind::Bool,
        "false",
        "delete keys with matching prefix",
    ),
    &flag(
        "prev-kv",
        Kind::Bool,
        "false",
        "return deleted key-value pairs",
    ),
    &flag(
        "from-key",
        Kind::Bool,
        "false",
        "delete keys that are greater than or equal to the given key using byte compare",
    ),
];
static CHECK_PERF_FLAGS: &[&Spec] = &[
    &flag("load", Kind::String, "s", "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"),
    &flag("prefix", Kind::String, "/etcdctl-check-perf/", "The prefix for writing the performance check's keys."),
    &flag("auto-compact", Kind::Bool, "false", "Compact storage with last revision after test is finished."),
    &flag("auto-defrag", Kind::Bool, "false", "Defragment storage after test is finished."),
];
static MIRROR_FLAGS: &[&Spec] = &[
    &flag("prefix", Kind::String, "", "Key-value prefix to mirror"),
    &flag(
        "dest-prefix",
        Kind::String,
        "",
        "destination prefix to mirror a prefix to a different prefix in the destination cluster",
    ),
    &flag(
        "no-dest-prefix",
        Kind::Bool,
        "false",
        "mirror key-values to the root of the destination cluster",
    ),
    &flag(
        "dest-cert",
        Kind::String,
        "",
        "Identify secure client using this TLS certificate file for the destination cluster",
    ),
    &flag(
        "dest-key",
        Kind::String,
        "",
        "Identify secure client using this TLS key file",
    ),
    &flag(
        "dest-cacert",
        Kind::String,
        "",
        "Verify certificates of TLS enabled secure servers using this CA bundle",
    ),
    &flag(
        "dest-insecure-transport",
        Kind::Bool,
        "true",
        "Disable transport security for client connections",
    ),
];
static RESTORE_FLAGS: &[&Spec] = &[
    &flag("data-dir", Kind::String, "", "Path to the data directory"),
    &flag(
        "wal-dir",
        Kind::String,
        "",
        "Path to the WAL directory (use --data-dir if none given)",
    ),
    &flag(
        "initial-cluster",
        Kind::String,
        "default=http://localhost:2380",
        "Initial cluster configuration for restore bootstrap",
    ),
    &flag(
        "initial-cluster-token",
        Kind::String,
        "etcd-cluster",
        "Initial cluster token for the etcd cluster during restore bootstrap",
    ),
    &flag(
        "initial-advertise-peer-urls",
        Kind::String,
        "http://localhost:2380",
        "List of this member's peer URLs to advertise to the rest of the cluster",
    ),
    &flag(
        "name",
        Kind::String,
        "default",
        "Human-readable name for this member",
    ),
    &flag(
        "skip-hash-check",
        Kind::Bool,
        "false",
        "Ignore snapshot integrity hash value (required if copied from data directory)",
    ),
];
static CLUSTER: Spec = flag(
    "cluster",
    Kind::Bool,
    "false",
    "use all endpoints from the cluster member list",
);
static ENDPOINT_INHERITED: &[&Spec] = &[&CLUSTER];
static MEMBER_PEER_URLS_ADD: Spec = flag(
    "peer-urls",
    Kind::String,
    "",
    "comma separated peer URLs for the new member.",
);
static MEMBER_PEER_URLS_UPDATE: Spec = flag(
    "peer-urls",
    Kind::String,
    "",
    "comma separated peer URLs for the updated member.",
);

const MEMBER_LIST_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.\nThe items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.\n";
const STATUS_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\nThe items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.\n";
const PUT_LONG: &str = "\nPuts the given key into the store.\n\nWhen <value> begins with '-', <value> is interpreted as a flag.\nInsert '--' for workaround:\n\n$ put <key> -- <value>\n$ put -- <key> <value>\n\nIf <value> isn't given as a command line argument and '--ignore-value' is not specified,\nthis command tries to read the value from standard input.\n\nIf <lease> isn't given as a command line argument and '--ignore-lease' is not specified,\nthis command tries to read the value from standard input.\n\nFor example,\n$ cat file | put <key>\nwill store the content of the file to <key>.\n";

const fn cmd(
    path: &'static str,
    usage: &'static str,
    short: &'static str,
    flags: &'static [&'static Spec],
    run: fn(&mut Ctl) -> Outcome,
) -> Command {
    Command {
        path,
        usage,
        short,
        long: "",
        flags,
        inherited: &[],
        run,
    }
}

fn unsupported(ctl: &mut Ctl) -> Outcome {
    let _ = ctl;
    Err(fail(
        EXIT_BAD_FEATURE,
        "this command is not part of this etcdctl applet yet",
    ))
}

pub static COMMANDS: &[Command] = &[
    cmd("get", "get [options] <key> [range_end]", "Gets the key or a range of keys", GET_FLAGS, kv::get),
    Command { long: PUT_LONG, ..cmd("put", "put [options] <key> <value> (<value> can also be given from stdin)", "Puts the given key into the store", PUT_FLAGS, kv::put) },
    cmd("del", "del [options] <key> [range_end]", "Removes the specified key or range of keys [key, range_end)", DEL_FLAGS, kv::del),
    cmd("txn", "txn [options]", "Txn processes all the requests in one transaction", &[&short("interactive", 'i', Kind::Bool, "false", "Input transaction in interactive mode")], kv::txn),
    cmd("compaction", "compaction [options] <revision>", "Compacts the event history in etcd", &[&flag("physical", Kind::Bool, "false", "'true' to wait for compaction to physically remove all old revisions")], kv::compaction),
    cmd("alarm disarm", "disarm", "Disarms all alarms", &[], manage::alarm_disarm),
    cmd("alarm list", "list", "Lists all alarms", &[], manage::alarm_list),
    cmd("defrag", "defrag", "Defragments the storage of the etcd members with given endpoints", &[&CLUSTER, &flag("data-dir", Kind::String, "", "Optional. If present, defragments a data directory not in use by etcd.")], manage::defrag),
    Command { inherited: ENDPOINT_INHERITED, ..cmd("endpoint health", "health", "Checks the healthiness of endpoints specified in `--endpoints` flag", &[], manage::endpoint_health) },
    Command { inherited: ENDPOINT_INHERITED, long: STATUS_LONG, ..cmd("endpoint status", "status", "Prints out the status of endpoints specified in `--endpoints` flag", &[], manage::endpoint_status) },
    Command { inherited: ENDPOINT_INHERITED, ..cmd("endpoint hashkv", "hashkv", "Prints the KV history hash for each endpoint in --endpoints", &[&flag("rev", Kind::Int, "0", "maximum revision to hash (default: all revisions)")], manage::endpoint_hashkv) },
    cmd("move-leader", "move-leader <transferee-member-id>", "Transfers leadership to another etcd cluster member.", &[], manage::move_leader),
    cmd("watch", "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]", "Watches events stream on keys or prefixes", &[&short("interactive", 'i', Kind::Bool, "false", "Interactive mode"), &flag("prefix", Kind::Bool, "false", "Watch on a prefix if prefix is set"), &flag("rev", Kind::Int, "0", "Revision to start watching"), &flag("prev-kv", Kind::Bool, "false", "get the previous key-value pair before the event happens")], kv::watch),
    cmd("version", "version", "Prints the version of etcdctl", &[], manage::version),
    cmd("lease grant", "grant <ttl>", "Creates leases", &[], lease::lease_grant),
    cmd("lease revoke", "revoke <leaseID>", "Revokes leases", &[], lease::lease_revoke),
    cmd("lease timetolive", "timetolive <leaseID> [options]", "Get lease information", &[&flag("keys", Kind::Bool, "false", "Get keys attached to this lease")], lease::lease_timetolive),
    cmd("lease list", "list", "List all active leases", &[], lease::lease_list),
    cmd("lease keep-alive", "keep-alive [options] <leaseID>", "Keeps leases alive (renew)", &[&flag("once", Kind::Bool, "false", "Resets the keep-alive time to its original value and exits immediately")], lease::lease_keep_alive),
    cmd("member add", "add <memberName> [options]", "Adds a member into the cluster", &[&MEMBER_PEER_URLS_ADD, &flag("learner", Kind::Bool, "false", "indicates if the new member is raft learner")], member::member_add),
    cmd("member remove", "remove <memberID>", "Removes a member from the cluster", &[], member::member_remove),
    cmd("member update", "update <memberID> [options]", "Updates a member in the cluster", &[&MEMBER_PEER_URLS_UPDATE], member::member_update),
    Command { long: MEMBER_LIST_LONG, ..cmd("member list", "list", "Lists all members in the cluster", &[], member::member_list) },
    Command { long: "Promotes a non-voting learner member to a voting one in the cluster.\n", ..cmd("member promote", "promote <memberID>", "Promotes a non-voting member in the cluster", &[], member::member_promote) },
    cmd("snapshot save", "save <filename>", "Stores an etcd node backend snapshot to a given file", &[], snapshot::save),
    cmd("snapshot status", "status <filename>", "Gets backend snapshot status of a given file", &[], snapshot::status),
    cmd("snapshot restore", "restore <filename> [options]", "Restores an etcd member snapshot to an etcd directory", RESTORE_FLAGS, snapshot::restore),
    cmd("make-mirror", "make-mirror [options] <destination>", "Makes a mirror at the destination etcd cluster", MIRROR_FLAGS, mirror::make_mirror),
    cmd("migrate", "migrate", "Migrates keys in a v2 store to a mvcc store", &[&flag("data-dir", Kind::String, "", "Path to the data directory"), &flag("no-ttl", Kind::Bool, "false", "Do not convert TTL keys"), &flag("transformer", Kind::String, "", "Path to the user-provided transformer program"), &flag("wal-dir", Kind::String, "", "Path to the WAL directory")], migrate::migrate),
    cmd("lock", "lock <lockname> [exec-command arg1 arg2 ...]", "Acquires a named lock", &[&flag("ttl", Kind::Int, "10", "timeout for session")], concurrency::lock),
    cmd("elect", "elect <election-name> [proposal]", "Observes and participates in leader election", &[&short("listen", 'l', Kind::Bool, "false", "observation mode")], concurrency::elect),
    cmd("auth enable", "enable", "Enables authentication", &[], auth::auth_enable),
    cmd("auth disable", "disable", "Disables authentication", &[], auth::auth_disable),
    cmd("auth status", "status", "Returns authentication status", &[], auth::auth_status),
    cmd("user add", "add <user name or user:password> [options]", "Adds a new user", &[&flag("interactive", Kind::Bool, "true", "Read password from stdin instead of interactive terminal"), &flag("new-user-password", Kind::String, "", "Supply password from the command line flag"), &flag("no-password", Kind::Bool, "false", "Create a user without password (CN based auth only)")], auth::user_add),
    cmd("user delete", "delete <user name>", "Deletes a user", &[], auth::user_delete),
    cmd("user get", "get <user name> [options]", "Gets detailed information of a user", &[&flag("detail", Kind::Bool, "false", "Show permissions of roles granted to the user")], auth::user_get),
    cmd("user list", "list", "Lists all users", &[], auth::user_list),
    cmd("user passwd", "passwd <user name> [options]", "Changes password of user", &[&flag("interactive", Kind::Bool, "true", "If true, read password from stdin instead of interactive terminal")], auth::user_passwd),
    cmd("user grant-role", "grant-role <user name> <role name>", "Grants a role to a user", &[], auth::user_grant_role),
    cmd("user revoke-role", "revoke-role <user name> <role name>", "Revokes a role from a user", &[], auth::user_revoke_role),
    cmd("role add", "add <role name>", "Adds a new role", &[], auth::role_add),
    cmd("role delete", "delete <role name>", "Deletes a role", &[], auth::role_delete),
    cmd("role get", "get <role name>", "Gets detailed information of a role", &[], auth::role_get),
    cmd("role list", "list", "Lists all roles", &[], auth::role_list),
    cmd("role grant-permission", "grant-permission [options] <role name> <permission type> <key> [endkey]", "Grants a key to a role", &[&flag("prefix", Kind::Bool, "false", "grant a prefix permission"), &flag("from-key", Kind::Bool, "false", "grant a permission of keys that are greater than or equal to the given key using byte compare")], auth::role_grant_permission),
    cmd("role revoke-permission", "revoke-permission <role name> <key> [endkey]", "Revokes a key from a role", &[&flag("prefix", Kind::Bool, "false", "revoke a prefix permission"), &flag("from-key", Kind::Bool, "false", "revoke a permission of keys that are greater than or equal to the given key using byte compare")], auth::role_revoke_permission),
    cmd("check perf", "perf [options]", "Check the performance of the etcd cluster", CHECK_PERF_FLAGS, check::perf),
    cmd("check datascale", "datascale [options]", "Check the memory usage of holding data for different workloads on a given server endpoint.", &[], unsupported),
];

/// Parent commands (no action of their own) and their one-line descriptions.
static GROUPS: &[(&str, &str, &str)] = &[
    ("alarm", "alarm <subcommand>", "Alarm related commands"),
    (
        "endpoint",
        "endpoint <subcommand>",
        "Endpoint related commands",
    ),
    ("lease", "lease <subcommand>", "Lease related commands"),
    (
        "member",
        "member <subcommand>",
        "Membership related commands",
    ),
    (
        "snapshot",
        "snapshot <subcommand>",
        "Manages etcd node snapshots",
    ),
    (
        "auth",
        "auth <enable or disable>",
        "Enable or disable authentication",
    ),
    ("user", "user <subcommand>", "User related commands"),
    ("role", "role <subcommand>", "Role related commands"),
    (
        "check",
        "check <subcommand>",
        "commands for checking properties of the etcd cluster",
    ),
];

/// The command the arguments name and the arguments without the command's words. Flags may
/// come before the command words (`etcdctl --endpoints=X get foo`); a value flag given as
/// `--flag value` takes the next argument with it, as cobra's command search assumes.
pub fn find(args: &[String]) -> Option<(&'static Command, Vec<String>)> {
    let words = words(args);
    let mut path = String::new();
    for (n, &at) in words.iter().enumerate() {
        if n > 0 {
            path.push(' ');
        }
        path.push_str(&args[at]);
        if let Some(command) = COMMANDS.iter().find(|c| c.path == path) {
            let used = &words[..=n];
            let rest = args
                .iter()
                .enumerate()
                .filter(|(k, _)| !used.contains(k))
                .map(|(_, a)| a.clone())
                .collect();
            return Some((command, rest));
        }
        if !GROUPS.iter().any(|g| g.0 == path) {
            return None;
        }
    }
    None
}

/// What the arguments name when they name no command: nothing (the root's help), a group
/// without a known subcommand (the group's help), or an unknown command.
pub enum Unfound {
    Root,
    Group(&'static str),
    Unknown(String),
}

pub fn unfound(args: &[String]) -> Unfound {
    let words = words(args);
    let Some(&first) = words.first() else {
        return Unfound::Root;
    };
    match GROUPS.iter().find(|g| g.0 == args[first]) {
        Some(group) => Unfound::Group(group.0),
        None if args[first] == "help" => Unfound::Root,
        None => Unfound::Unknown(args[first].clone()),
    }
}

/// Where the (at most two) command words are: the arguments that are neither flags nor flag
/// values, before any `--`. A value flag written `--flag value` takes the next argument with
/// it, as cobra's command search assumes.
fn words(args: &[String]) -> Vec<usize> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() && words.len() < 2 {
        let arg = &args[i];
        if arg == "--" {
            break;
        }
        if let Some(name) = arg.strip_prefix("--") {
            let takes_value = !name.contains('=')
                && GLOBAL_FLAGS
                    .iter()
                    .any(|s| s.name == name && s.kind != Kind::Bool);
            i += 1 + usize::from(takes_value);
            continue;
        }
        if arg.starts_with('-') && arg.len() > 1 {
            i += 1 + usize::from(arg == "-w" || arg == "-d");
            continue;
        }
        words.push(i);
        i += 1;
    }
    words
}

/// A command group's help (cobra's for a parent command): its subcommands and the flags.
pub fn group_usage(group: &str) -> String {
    let (_, usage, short_text) = GROUPS.iter().find(|g| g.0 == group).expect("a known group");
    let mut text = format!(
        "NAME:\n\t{group} - {short_text}\n\nUSAGE:\n\tetcdctl {usage} [flags]\n\nAPI VERSION:\n\t3.4\n\n\nCOMMANDS:\n"
    );
    let prefix = format!("{group} ");
    let mut subcommands: Vec<&Command> = COMMANDS
        .iter()
        .filter(|c| c.path.starts_with(&prefix))
        .collect();
    subcommands.sort_by_key(|c| c.path);
    for command in subcommands {
        text += &format!("\t{}\t{}\n", command.name(), command.short);
    }
    let help_text = format!("help for {group}");
    let help = Spec {
        usage: Box::leak(help_text.into_boxed_str()),
        ..short("help", 'h', Kind::Bool, "false", "")
    };
    text += "\nOPTIONS:\n";
    text += &super::flags::usage_lines(&[&help]);
    text += "\nGLOBAL OPTIONS:\n";
    let global: Vec<&Spec> = GLOBAL_FLAGS.iter().collect();
    text += &super::flags::usage_lines(&global);
    text += "\n";
    tabwriter::align(&text)
}

/// `etcdctl <command> --help` and the text printed with a flag error.
pub fn usage(command: &Command) -> String {
    let parent = command.path.rsplit_once(' ').map(|p| p.0);
    let mut text = format!(
        "NAME:\n\t{} - {}\n\nUSAGE:\n\tetcdctl {}{} {}",
        command.path,
        command.short,
        parent.map(|p| format!("{p} ")).unwrap_or_default(),
        command.usage,
        "[flags]\n",
    );
    if !command.long.is_empty() {
        text += "\nDESCRIPTION:\n";
        for line in command.long.trim_matches(['\n', '\t', ' ']).split('\n') {
            text += &format!("\t{line}\n");
        }
    }
    let help_text = format!("help for {}", command.name());
    let help = Spec {
        usage: Box::leak(help_text.into_boxed_str()),
        ..short("help", 'h', Kind::Bool, "false", "")
    };
    let mut local: Vec<&Spec> = vec![&help];
    local.extend(command.flags.iter().copied());
    text += "\nOPTIONS:\n";
    text += &super::flags::usage_lines(&local);
    let mut inherited: Vec<&Spec> = command.inherited.to_vec();
    inherited.extend(GLOBAL_FLAGS.iter());
    text += "\nGLOBAL OPTIONS:\n";
    text += &super::flags::usage_lines(&inherited);
    text += "\n";
    tabwriter::align(&text)
}

/// `etcdctl` with no command.
pub fn root_usage() -> String {
    let mut text = format!(
        "NAME:\n\tetcdctl - A simple command line client for etcd3.\n\nUSAGE:\n\tetcdctl [flags]\n\nVERSION:\n\t{}\n\nAPI VERSION:\n\t3.4\n\n\nCOMMANDS:\n",
        crate::version::SERVER_VERSION
    );
    let mut commands: Vec<&Command> = COMMANDS.iter().collect();
    commands.sort_by_key(|c| c.path);
    for command in commands {
        text += &format!("\t{}\t{}\n", command.path, command.short);
    }
    text += "\nOPTIONS:\n";
    let help = Spec {
        usage: "help for etcdctl",
        ..short("help", 'h', Kind::Bool, "false", "")
    };
    let mut all: Vec<&Spec> = vec![&help];
    all.extend(GLOBAL_FLAGS.iter());
    text += &super::flags::usage_lines(&all);
    text += "\n";
    tabwriter::align(&text)
}
