//! ETCDCTL_API=2 `member list|add|remove|update`, through the v2 members API, printing what
//! etcdctl 3.4's ctlv2 member commands print (and exiting 1 on any error, as they do).

use super::v2::{Context, Member};
use crate::url::Url;

/// What each member command prints after a usage error: urfave/cli's command help.
pub fn help(command: &str) -> Option<&'static str> {
    Some(match command {
        "list" | "ls" => "NAME:\n   etcdctl member list - enumerate existing cluster members\n\nUSAGE:\n   etcdctl member list  \n",
        "add" => "NAME:\n   etcdctl member add - add a new member to the etcd cluster\n\nUSAGE:\n   etcdctl member add <name> <peerURL>\n",
        "remove" => "NAME:\n   etcdctl member remove - remove an existing member from the etcd cluster\n\nUSAGE:\n   etcdctl member remove <memberID>\n",
        "update" => "NAME:\n   etcdctl member update - update an existing member in the etcd cluster\n\nUSAGE:\n   etcdctl member update <memberID> <peerURLs>\n",
        _ => return None,
    })
}

/// Runs `member <command> args...`.
pub fn run(context: &Context, command: &str, args: &[String]) -> u8 {
    match command {
        "list" | "ls" => list(context, args),
        "add" => add(context, args),
        "remove" => remove(context, args),
        _ => update(context, args),
    }
}

/// `{"peerURLs":[...]}`
fn peer_urls_json(urls: &[String]) -> String {
    let mut out = String::from("{\"peerURLs\":[");
    for (i, url) in urls.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::golang::json_string(url, &mut out);
    }
    out.push_str("]}");
    out
}

/// The refusal in an error body, or the Go client's words for a status it does not expect.
fn refusal(status: u16, body: &str, explained: &[u16]) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        message: String,
    }
    match serde_json::from_str::<Refusal>(body) {
        Ok(refusal) if explained.contains(&status) => refusal.message,
        Err(e) if explained.contains(&status) => e.to_string(),
        _ => format!("unexpected status code {status}"),
    }
}

fn add(context: &Context, args: &[String]) -> u8 {
    let [name, url] = args else {
        eprintln!("Provide a name and a single member peerURL");
        return 1;
    };
    let urls = match Url::parse_list(std::slice::from_ref(url)) {
        Ok(urls) => urls,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let added = match context.send_json("POST", "/v2/members", &peer_urls_json(&urls)) {
        Ok((201, body)) => match serde_json::from_str::<Member>(&body) {
            Ok(member) => member,
            Err(error) => {
                eprintln!("{error}");
                return 1;
            }
        },
        Ok((status, body)) => {
            eprintln!("{}", refusal(status, &body, &[409]));
            return 1;
        }
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    println!("Added member named {name} with ID {} to cluster", added.id);
    let members = match context.members() {
        Ok(members) => members,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let mut conf = Vec::new();
    for member in &members {
        let member_name = if member.id == added.id {
            name
        } else {
            &member.name
        };
        for url in &member.peer_urls {
            conf.push(format!("{member_name}={url}"));
        }
    }
    println!();
    println!("ETCD_NAME={name:?}");
    println!("ETCD_INITIAL_CLUSTER={:?}", conf.join(","));
    println!("ETCD_INITIAL_CLUSTER_STATE=\"existing\"");
    0
}

fn remove(context: &Context, args: &[String]) -> u8 {
    let [id] = args else {
        eprintln!("Provide a single member ID");
        return 1;
    };
    let members = match context.members() {
        Ok(members) => members,
        Err(error) => {
            eprintln!("Error while verifying ID against known members: {error}");
            return 1;
        }
    };
    for member in &members {
        if &member.name == id {
            eprint!("Found a member named {}; if this is correct, please use its ID, eg:\n\tetcdctl member remove {}\n", member.name, member.id);
            eprint!("For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n");
        }
    }
    if !members.iter().any(|m| &m.id == id) {
        eprintln!("Couldn't find a member in the cluster with an ID of {id}.");
        return 1;
    }
    match context.send_json("DELETE", &format!("/v2/members/{id}"), "") {
        Ok((204 | 410, _)) => {
            println!("Removed member {id} from cluster");
            0
        }
        Ok((status, _)) => {
            eprint!(
                "Received an error trying to remove member {id}: unexpected status code {status}"
            );
            1
        }
        Err(error) => {
            eprint!("Received an error trying to remove member {id}: {error}");
            1
        }
    }
}

fn update(context: &Context, args: &[String]) -> u8 {
    let [id, urls] = args else {
        eprintln!("Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)");
        return 1;
    };
    let list: Vec<String> = urls.split(',').map(str::to_string).collect();
    let urls = match Url::parse_list(&list) {
        Ok(urls) => urls,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let path = format!("/v2/members/{id}");
    match context.send_json("PUT", &path, &peer_urls_json(&urls)) {
        Ok((204, _)) => {
            println!("Updated member with ID {id} in cluster");
            0
        }
        Ok((status, body)) => {
            eprintln!("{}", refusal(status, &body, &[404, 409]));
            1
        }
        Err(error) => {
            eprintln!("{error}");
            1
        }
    }
}

fn list(context: &Context, args: &[String]) -> u8 {
    if !args.is_empty() {
        eprintln!("No arguments accepted");
        return 1;
    }
    let members = match context.members() {
        Ok(members) => members,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let leader = context.endpoints.iter().find_map(|endpoint| {
        let url = format!("{}/v2/members/leader", endpoint.trim_end_matches('/'));
        context
            .get(&url)
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<Member>(&body).ok())
    });
    let Some(leader) = leader else {
        eprintln!("Failed to get leader:  client: no leader");
        return 1;
    };
    for m in &members {
        if m.name.is_empty() {
            println!("{}[unstarted]: peerURLs={}", m.id, m.peer_urls.join(","));
        } else {
            println!(
                "{}: name={} peerURLs={} clientURLs={} isLeader={}",
                m.id,
                m.name,
                m.peer_urls.join(","),
                m.client_urls.join(","),
                m.id == leader.id
            );
        }
    }
    0
}
