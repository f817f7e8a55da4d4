//! ETCDCTL_API=2 `user`, `role` and `auth` commands over /v2/auth, printing what etcdctl
//! 3.4's ctlv2 prints (and exiting 1 on any error, as it does).

use super::flags::{self, flag, Kind, Spec};
use super::v2::Context;
use serde_json::{json, Value};

static ROLES: &[Spec] = &[flag("roles", Kind::Strings, "", "")];
static PERMISSION: &[Spec] = &[
    flag("path", Kind::String, "", ""),
    flag("read", Kind::Bool, "false", ""),
    flag("write", Kind::Bool, "false", ""),
    flag("readwrite", Kind::Bool, "false", ""),
    flag("rw", Kind::Bool, "false", ""),
];

/// Prints `message` to stderr; the exit code etcdctl gives for it.
fn failed(message: impl std::fmt::Display) -> u8 {
    eprintln!("{message}");
    1
}

/// The message of an error body, or Go's words for a status the client did not expect.
fn refusal(status: u16, body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => value["message"].as_str().unwrap_or_default().to_string(),
        Err(e) => format!("{e} (status {status})"),
    }
}

/// One request to /v2/auth/PATH: the body when the status is one of `ok`, else the message.
fn call(
    context: &Context,
    method: &str,
    path: &str,
    body: &Value,
    ok: &[u16],
) -> Result<String, String> {
    let json = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, answer) = context.send_json(method, &format!("/v2/auth/{path}"), &json)?;
    if ok.contains(&status) {
        Ok(answer)
    } else {
        Err(refusal(status, &answer))
    }
}

/// Runs `GROUP COMMAND args...` for the groups user, role and auth.
pub fn run(context: &Context, group: &str, command: &str, args: &[String]) -> u8 {
    let specs: Vec<&'static Spec> = match (group, command) {
        ("user", "grant" | "revoke") => ROLES.iter().collect(),
        ("role", "grant" | "revoke") => PERMISSION.iter().collect(),
        _ => Vec::new(),
    };
    let parsed = match flags::parse(&specs, &super::v2::go_flags(args)) {
        Ok(parsed) => parsed,
        Err(error) => return failed(format!("Incorrect Usage: {error}")),
    };
    let args = &parsed.args;
    match group {
        "auth" => auth(context, command, args),
        "user" => {
            if command == "list" {
                return list(context, "users", args);
            }
            let [name] = args.as_slice() else {
                return failed("Please provide a username");
            };
            let roles = if specs.is_empty() {
                Vec::new()
            } else {
                parsed.strings(&specs, "roles")
            };
            user(context, command, name, &roles)
        }
        _ => {
            if command == "list" {
                return list(context, "roles", args);
            }
            let [name] = args.as_slice() else {
                return failed("Please provide a role name");
            };
            let access = ["read", "write", "readwrite", "rw"]
                .map(|f| specs.iter().any(|s| s.name == f) && parsed.bool(&specs, f));
            let path = if specs.is_empty() {
                String::new()
            } else {
                parsed.string(&specs, "path")
            };
            role(context, command, name, &path, access)
        }
    }
}

/// The groups and commands this module serves.
pub fn serves(group: &str, command: &str) -> bool {
    match group {
        "user" => matches!(
            command,
            "add" | "get" | "list" | "remove" | "grant" | "revoke" | "passwd"
        ),
        "role" => matches!(
            command,
            "add" | "get" | "list" | "remove" | "grant" | "revoke"
        ),
        "auth" => matches!(command, "enable" | "disable"),
        _ => false,
    }
}

fn auth(context: &Context, command: &str, args: &[String]) -> u8 {
    if !args.is_empty() {
        return failed("No arguments accepted");
    }
    let (method, done) = if command == "enable" {
        ("PUT", "Authentication Enabled")
    } else {
        ("DELETE", "Authentication Disabled")
    };
    match call(context, method, "enable", &Value::Null, &[200, 201]) {
        Ok(_) => {
            println!("{done}");
            0
        }
        Err(error) => failed(error),
    }
}

/// `user list` / `role list`: the names, one per line.
fn list(context: &Context, kind: &str, args: &[String]) -> u8 {
    if !args.is_empty() {
        return failed("No arguments accepted");
    }
    let (status, body) = match context.send_json("GET", &format!("/v2/auth/{kind}"), "") {
        Ok(answer) => answer,
        Err(error) => return failed(error),
    };
    if status != 200 {
        // etcd's client words a refused role list by its status only.
        return failed(if kind == "roles" {
            format!("unexpected status code {status}")
        } else {
            refusal(status, &body)
        });
    }
    let listed: Value = match serde_json::from_str(&body) {
        Ok(value) => value,
        Err(e) => return failed(e),
    };
    let field = if kind == "roles" { "role" } else { "user" };
    for entry in listed[kind]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!("{}", entry[field].as_str().unwrap_or_default());
    }
    0
}

/// The password after `name:`, or asked for after `prompt`.
fn password(name_and_password: &str, prompt: &str) -> Result<(String, String), String> {
    match name_and_password.split_once(':') {
        Some((name, password)) => Ok((name.to_string(), password.to_string())),
        None => super::prompt::ask(prompt)
            .map(|password| (name_and_password.to_string(), password))
            .map_err(|e| format!("Error reading password: {e}")),
    }
}

fn user(context: &Context, command: &str, name: &str, roles: &[String]) -> u8 {
    let path = |name: &str| format!("users/{name}");
    let done = |text: String| {
        println!("{text}");
        0
    };
    match command {
        "add" => {
            let (name, secret) = match password(name, "New password: ") {
                Ok(pair) => pair,
                Err(error) => return failed(error),
            };
            let body = json!({"user": name, "password": secret, "roles": null});
            match call(context, "PUT", &path(&name), &body, &[200, 201]) {
                Ok(_) => done(format!("User {name} created")),
                Err(error) => failed(error),
            }
        }
        "remove" => match call(context, "DELETE", &path(name), &Value::Null, &[200, 201]) {
            Ok(_) => done(format!("User {name} removed")),
            Err(error) => failed(error),
        },
        "passwd" => {
            let secret = match super::prompt::ask("New password: ") {
                Ok(secret) => secret,
                Err(e) => return failed(format!("Error reading password: {e}")),
            };
            let body = json!({"user": name, "password": secret, "roles": null});
            match call(context, "PUT", &path(name), &body, &[200]) {
                Ok(_) => done("Password updated".into()),
                Err(error) => failed(error),
            }
        }
        "grant" | "revoke" => {
            if roles.is_empty() {
                return failed("No roles specified; please use `--roles`");
            }
            let body = json!({"user": name, "roles": null, command: roles});
            match call(context, "PUT", &path(name), &body, &[200]) {
                Ok(_) => done(format!("User {name} updated")),
                Err(error) => failed(error),
            }
        }
        _ => match call(context, "GET", &path(name), &Value::Null, &[200]) {
            Ok(body) => {
                let found: Value = serde_json::from_str(&body).unwrap_or_default();
                let roles: Vec<&str> = found["roles"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|r| r["role"].as_str().or(r.as_str()))
                    .collect();
                println!("User: {}", found["user"].as_str().unwrap_or_default());
                // etcd's client first decodes the role objects as strings, which leaves an
                // empty name per role ahead of the real ones: "Roles:  a b" for [a b].
                let blanks = " ".repeat(roles.len());
                done(format!("Roles: {blanks}{}", roles.join(" ")))
            }
            Err(error) => failed(error),
        },
    }
}

/// etcd's pathutil.CanonicalURLPath: rooted, cleaned, a trailing slash kept.
fn canonical(path: &str) -> String {
    let rooted = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut clean = crate::v2::clean(&rooted);
    if rooted.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    clean
}

/// `[read, write, readwrite, rw]` flags as the permission lists to grant or revoke.
fn permission_lists(path: &str, access: [bool; 4]) -> Result<Value, String> {
    let [read, write, readwrite, rw] = access;
    let readwrite = readwrite || rw;
    if [read, write, readwrite].iter().filter(|f| **f).count() != 1 {
        return Err("Please specify exactly one of --read, --write or --readwrite".into());
    }
    let list = |on: bool| if on { json!([path]) } else { Value::Null };
    Ok(json!({"kv": {"read": list(read || readwrite), "write": list(write || readwrite)}}))
}

fn role(context: &Context, command: &str, name: &str, path: &str, access: [bool; 4]) -> u8 {
    let at = format!("roles/{name}");
    let no_permissions = json!({"kv": {"read": null, "write": null}});
    let done = |text: String| {
        println!("{text}");
        0
    };
    match command {
        "add" => {
            if call(context, "GET", &at, &Value::Null, &[200]).is_ok() {
                return failed(format!("Role {name} already exists"));
            }
            let body = json!({"role": name, "permissions": no_permissions});
            match call(context, "PUT", &at, &body, &[200, 201]) {
                Ok(_) => done(format!("Role {name} created")),
                Err(error) => failed(error),
            }
        }
        "remove" => match call(context, "DELETE", &at, &Value::Null, &[200, 201]) {
            Ok(_) => done(format!("Role {name} removed")),
            Err(error) => failed(error),
        },
        "grant" | "revoke" => {
            if path.is_empty() {
                return failed("No path specified; please use `--path`");
            }
            let canonical = canonical(path);
            if canonical != path {
                return failed(format!(
                    "Not canonical path; please use `--path={canonical}`"
                ));
            }
            let lists = match permission_lists(path, access) {
                Ok(lists) => lists,
                Err(error) => return failed(error),
            };
            if let Err(error) = call(context, "GET", &at, &Value::Null, &[200]) {
                return failed(error);
            }
            let body = json!({"role": name, "permissions": no_permissions, command: lists});
            match call(context, "PUT", &at, &body, &[200]) {
                Ok(_) => done(format!("Role {name} updated")),
                Err(error) => failed(error),
            }
        }
        _ => match call(context, "GET", &at, &Value::Null, &[200]) {
            Ok(body) => {
                let found: Value = serde_json::from_str(&body).unwrap_or_default();
                println!("Role: {}", found["role"].as_str().unwrap_or_default());
                for (title, list) in [("KV Read:", "read"), ("KV Write:", "write")] {
                    println!("{title}");
                    let patterns = found["permissions"]["kv"][list].as_array().cloned();
                    for pattern in patterns.unwrap_or_default() {
                        println!("\t{}", pattern.as_str().unwrap_or_default());
                    }
                }
                0
            }
            Err(error) => failed(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_canonical_as_etcdctls() {
        assert_eq!(canonical("/foo"), "/foo");
        assert_eq!(canonical("foo"), "/foo");
        assert_eq!(canonical("/foo/"), "/foo/");
        assert_eq!(canonical("/a//b/../c"), "/a/c");
        assert_eq!(canonical("/pub/*"), "/pub/*");
    }
}
