//! The auth, user and role commands (etcdctl's auth_command.go, user_command.go,
//! role_command.go).

use super::manage::no_args;
use super::output::Format;
use super::EXIT_INVALID_INPUT;
use super::{fail, Ctl, Exit, Outcome, EXIT_BAD_ARGS};
use crate::pb::etcdserverpb as pb;

pub fn auth_enable(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "auth enable command does not accept any arguments")?;
    let channel = ctl.connect()?;
    loop {
        match ctl.call::<_, pb::AuthEnableResponse>(
            &channel,
            "/etcdserverpb.Auth/AuthEnable",
            &pb::AuthEnableRequest::default(),
        ) {
            Ok(_) => break,
            // etcdctl creates the root role and grants it to root, then tries again.
            Err(e)
                if e.message.as_deref()
                    == Some("etcdserver: root user does not have root role") =>
            {
                ctl.call::<_, pb::AuthRoleAddResponse>(
                    &channel,
                    "/etcdserverpb.Auth/RoleAdd",
                    &pb::AuthRoleAddRequest {
                        name: "root".into(),
                    },
                )?;
                ctl.call::<_, pb::AuthUserGrantRoleResponse>(
                    &channel,
                    "/etcdserverpb.Auth/UserGrantRole",
                    &pb::AuthUserGrantRoleRequest {
                        user: "root".into(),
                        role: "root".into(),
                    },
                )?;
            }
            Err(e) => return Err(e),
        }
    }
    println!("Authentication Enabled");
    Ok(())
}

pub fn auth_disable(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "auth disable command does not accept any arguments")?;
    let _: pb::AuthDisableResponse = ctl.request(
        "/etcdserverpb.Auth/AuthDisable",
        &pb::AuthDisableRequest::default(),
    )?;
    println!("Authentication Disabled");
    Ok(())
}

/// etcdctl 3.5's `auth status` (AuthStatus is a 3.5 call; 3.4's etcd answers Unimplemented).
pub fn auth_status(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "auth status command does not accept any arguments")?;
    let response: pb::AuthStatusResponse = ctl.request(
        "/etcdserverpb.Auth/AuthStatus",
        &pb::AuthStatusRequest::default(),
    )?;
    match ctl.out.format {
        super::output::Format::Simple => {
            println!("Authentication Status: {}", response.enabled);
            println!("AuthRevision: {}", response.auth_revision);
            Ok(())
        }
        _ => ctl
            .out
            .message("etcdserverpb.AuthStatusResponse", &response),
    }
}

pub fn user_add(ctl: &mut Ctl) -> Outcome {
    if ctl.args().len() != 1 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "user add command requires user name as its argument",
        ));
    }
    let arg = ctl.args()[0].clone();
    let no_password = ctl.bool("no-password");
    let from_flag = ctl.string("new-user-password");
    let (name, password) = if no_password {
        (arg, String::new())
    } else if !from_flag.is_empty() {
        (arg, from_flag)
    } else if let Some((name, password)) = arg.split_once(':') {
        if name.is_empty() {
            return Err(fail(EXIT_BAD_ARGS, "empty user name is not allowed"));
        }
        (name.to_string(), password.to_string())
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| fail(EXIT_INVALID_INPUT, e.to_string()))?;
        (
            arg,
            line.split_whitespace().next().unwrap_or("").to_string(),
        )
    };
    let request = pb::AuthUserAddRequest {
        name: name.clone(),
        password,
        options: Some(crate::pb::authpb::UserAddOptions { no_password }),
        hashed_password: String::new(),
    };
    let response: pb::AuthUserAddResponse = ctl.request("/etcdserverpb.Auth/UserAdd", &request)?;
    ctl.out.auth_done(
        &format!("User {name} created"),
        &response.header,
        "etcdserverpb.AuthUserAddResponse",
        &response,
    )
}

fn one_name(ctl: &Ctl, message: &str) -> Result<String, Exit> {
    match ctl.args() {
        [name] => Ok(name.clone()),
        _ => Err(fail(EXIT_BAD_ARGS, message)),
    }
}

fn two_names(ctl: &Ctl, message: &str) -> Result<(String, String), Exit> {
    match ctl.args() {
        [a, b] => Ok((a.clone(), b.clone())),
        _ => Err(fail(EXIT_BAD_ARGS, message)),
    }
}

pub fn user_delete(ctl: &mut Ctl) -> Outcome {
    let name = one_name(
        ctl,
        "user delete command requires user name as its argument",
    )?;
    let response: pb::AuthUserDeleteResponse = ctl.request(
        "/etcdserverpb.Auth/UserDelete",
        &pb::AuthUserDeleteRequest { name: name.clone() },
    )?;
    ctl.out.auth_done(
        &format!("User {name} deleted"),
        &response.header,
        "etcdserverpb.AuthUserDeleteResponse",
        &response,
    )
}

pub fn user_get(ctl: &mut Ctl) -> Outcome {
    let name = one_name(ctl, "user get command requires user name as its argument")?;
    let response: pb::AuthUserGetResponse = ctl.request(
        "/etcdserverpb.Auth/UserGet",
        &pb::AuthUserGetRequest { name: name.clone() },
    )?;
    if ctl.bool("detail") {
        println!("User: {name}");
        for role in &response.roles {
            println!();
            let detail = get_role(ctl, role)?;
            if ctl.out.format == Format::Simple {
                print_role(role, &detail);
            } else {
                ctl.out.names(
                    &[],
                    &detail.header,
                    "etcdserverpb.AuthRoleGetResponse",
                    &detail,
                )?;
            }
        }
        return Ok(());
    }
    let roles: String = response.roles.iter().map(|r| format!(" {r}")).collect();
    match ctl.out.format {
        Format::Simple => {
            println!("User: {name}");
            println!("Roles:{roles}");
            Ok(())
        }
        _ => ctl.out.names(
            &[],
            &response.header,
            "etcdserverpb.AuthUserGetResponse",
            &response,
        ),
    }
}

pub fn user_list(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "user list command requires no arguments")?;
    let response: pb::AuthUserListResponse = ctl.request(
        "/etcdserverpb.Auth/UserList",
        &pb::AuthUserListRequest::default(),
    )?;
    ctl.out.names(
        &response.users,
        &response.header,
        "etcdserverpb.AuthUserListResponse",
        &response,
    )
}

pub fn user_grant_role(ctl: &mut Ctl) -> Outcome {
    let (user, role) = two_names(
        ctl,
        "user grant command requires user name and role name as its argument",
    )?;
    let response: pb::AuthUserGrantRoleResponse = ctl.request(
        "/etcdserverpb.Auth/UserGrantRole",
        &pb::AuthUserGrantRoleRequest {
            user: user.clone(),
            role: role.clone(),
        },
    )?;
    ctl.out.auth_done(
        &format!("Role {role} is granted to user {user}"),
        &response.header,
        "etcdserverpb.AuthUserGrantRoleResponse",
        &response,
    )
}

pub fn user_revoke_role(ctl: &mut Ctl) -> Outcome {
    let (user, role) = two_names(
        ctl,
        "user revoke-role requires user name and role name as its argument",
    )?;
    let response: pb::AuthUserRevokeRoleResponse = ctl.request(
        "/etcdserverpb.Auth/UserRevokeRole",
        &pb::AuthUserRevokeRoleRequest {
            name: user.clone(),
            role: role.clone(),
        },
    )?;
    ctl.out.auth_done(
        &format!("Role {role} is revoked from user {user}"),
        &response.header,
        "etcdserverpb.AuthUserRevokeRoleResponse",
        &response,
    )
}

pub fn role_add(ctl: &mut Ctl) -> Outcome {
    let name = one_name(ctl, "role add command requires role name as its argument")?;
    let response: pb::AuthRoleAddResponse = ctl.request(
        "/etcdserverpb.Auth/RoleAdd",
        &pb::AuthRoleAddRequest { name: name.clone() },
    )?;
    ctl.out.auth_done(
        &format!("Role {name} created"),
        &response.header,
        "etcdserverpb.AuthRoleAddResponse",
        &response,
    )
}

pub fn role_delete(ctl: &mut Ctl) -> Outcome {
    let name = one_name(
        ctl,
        "role delete command requires role name as its argument",
    )?;
    let response: pb::AuthRoleDeleteResponse = ctl.request(
        "/etcdserverpb.Auth/RoleDelete",
        &pb::AuthRoleDeleteRequest { role: name.clone() },
    )?;
    ctl.out.auth_done(
        &format!("Role {name} deleted"),
        &response.header,
        "etcdserverpb.AuthRoleDeleteResponse",
        &response,
    )
}

fn get_role(ctl: &Ctl, name: &str) -> Result<pb::AuthRoleGetResponse, Exit> {
    ctl.request(
        "/etcdserverpb.Auth/RoleGet",
        &pb::AuthRoleGetRequest {
            role: name.to_string(),
        },
    )
}

pub fn role_get(ctl: &mut Ctl) -> Outcome {
    let name = one_name(ctl, "role get command requires role name as its argument")?;
    let response = get_role(ctl, &name)?;
    if ctl.out.format != Format::Simple {
        return ctl.out.names(
            &[],
            &response.header,
            "etcdserverpb.AuthRoleGetResponse",
            &response,
        );
    }
    print_role(&name, &response);
    Ok(())
}

/// A role's permissions as etcdctl's simple printer lists them.
fn print_role(name: &str, response: &pb::AuthRoleGetResponse) {
    println!("Role {name}");
    // authpb.Permission types: READ 0, WRITE 1, READWRITE 2.
    for (title, types) in [("KV Read:", [0, 2]), ("KV Write:", [1, 2])] {
        println!("{title}");
        for perm in response
            .perm
            .iter()
            .filter(|p| types.contains(&p.perm_type))
        {
            let key = String::from_utf8_lossy(&perm.key);
            if perm.range_end.is_empty() {
                println!("\t{key}");
                continue;
            }
            let end = String::from_utf8_lossy(&perm.range_end);
            let mut line = if perm.range_end != [0] {
                format!("\t[{key}, {end})")
            } else {
                format!("\t[{key}, <open ended>")
            };
            if crate::mvcc::prefix_end(&perm.key) == perm.range_end {
                line += &format!(" (prefix {key})");
            }
            println!("{line}");
        }
    }
}

/// key and range end from `key [endkey]` and --prefix/--from-key (etcdctl's permRange).
fn permission_range(ctl: &Ctl, args: &[String]) -> Result<(Vec<u8>, Vec<u8>), Exit> {
    let (prefix, from_key) = (ctl.bool("prefix"), ctl.bool("from-key"));
    let exclusive = || {
        fail(
            EXIT_BAD_ARGS,
            "--from-key and --prefix flags are mutually exclusive",
        )
    };
    let key = args[0].as_bytes().to_vec();
    if key.is_empty() {
        if prefix && from_key {
            return Err(exclusive());
        }
        let end = if prefix || from_key {
            vec![0]
        } else {
            Vec::new()
        };
        return Ok((vec![0], end));
    }
    let end = match (args.get(1), prefix, from_key) {
        (None, true, true) => return Err(exclusive()),
        (None, true, false) => crate::mvcc::prefix_end(&key),
        (None, false, true) => vec![0],
        (None, false, false) => Vec::new(),
        (Some(_), true, _) => {
            return Err(fail(
                EXIT_BAD_ARGS,
                "unexpected endkey argument with --prefix flag",
            ))
        }
        (Some(_), false, true) => {
            return Err(fail(
                EXIT_BAD_ARGS,
                "unexpected endkey argument with --from-key flag",
            ))
        }
        (Some(end), false, false) => end.as_bytes().to_vec(),
    };
    Ok((key, end))
}

pub fn role_grant_permission(ctl: &mut Ctl) -> Outcome {
    let args = ctl.args().to_vec();
    if args.len() < 3 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "role grant command requires role name, permission type, and key [endkey] as its argument",
        ));
    }
    let perm_type = match args[1].to_uppercase().as_str() {
        "READ" => 0,
        "WRITE" => 1,
        "READWRITE" => 2,
        _ => {
            return Err(fail(
                EXIT_BAD_ARGS,
                format!("invalid permission type: {}", args[1]),
            ))
        }
    };
    let (key, range_end) = permission_range(ctl, &args[2..])?;
    let request = pb::AuthRoleGrantPermissionRequest {
        name: args[0].clone(),
        perm: Some(crate::pb::authpb::Permission {
            perm_type,
            key,
            range_end,
        }),
    };
    let response: pb::AuthRoleGrantPermissionResponse =
        ctl.request("/etcdserverpb.Auth/RoleGrantPermission", &request)?;
    ctl.out.auth_done(
        &format!("Role {} updated", args[0]),
        &response.header,
        "etcdserverpb.AuthRoleGrantPermissionResponse",
        &response,
    )
}

pub fn role_revoke_permission(ctl: &mut Ctl) -> Outcome {
    let args = ctl.args().to_vec();
    if args.len() < 2 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "role revoke-permission command requires role name and key [endkey] as its argument",
        ));
    }
    let (key, range_end) = permission_range(ctl, &args[1..])?;
    let request = pb::AuthRoleRevokePermissionRequest {
        role: args[0].clone(),
        key,
        range_end: range_end.clone(),
    };
    let response: pb::AuthRoleRevokePermissionResponse =
        ctl.request("/etcdserverpb.Auth/RoleRevokePermission", &request)?;
    let (role, key) = (&args[0], &args[1]);
    let sentence = if range_end.is_empty() {
        format!("Permission of key {key} is revoked from role {role}")
    } else if range_end != [0] {
        format!(
            "Permission of range [{key}, {}) is revoked from role {role}",
            String::from_utf8_lossy(&range_end)
        )
    } else {
        format!("Permission of range [{key}, <open ended> is revoked from role {role}")
    };
    ctl.out.auth_done(
        &sentence,
        &response.header,
        "etcdserverpb.AuthRoleRevokePermissionResponse",
        &response,
    )
}

pub fn user_passwd(ctl: &mut Ctl) -> Outcome {
    let name = one_name(
        ctl,
        "user passwd command requires user name as its argument",
    )?;
    let password = read_password(ctl, &name)?;
    let response: pb::AuthUserChangePasswordResponse = ctl.request(
        "/etcdserverpb.Auth/UserChangePassword",
        &pb::AuthUserChangePasswordRequest {
            name,
            password,
            hashed_password: String::new(),
        },
    )?;
    ctl.out.auth_done(
        "Password updated",
        &response.header,
        "etcdserverpb.AuthUserChangePasswordResponse",
        &response,
    )
}

/// A password from standard input: one word with --interactive=false; otherwise asked for
/// twice, as etcdctl asks at a terminal.
fn read_password(ctl: &Ctl, name: &str) -> Result<String, Exit> {
    let read_word = || {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| fail(EXIT_INVALID_INPUT, e.to_string()))?;
        Ok::<String, Exit>(line.split_whitespace().next().unwrap_or("").to_string())
    };
    if !ctl.bool("interactive") {
        return read_word();
    }
    eprint!("Password of {name}: ");
    let first = read_word()?;
    eprint!("Type password of {name} again for confirmation: ");
    let second = read_word()?;
    if first != second {
        return Err(fail(EXIT_BAD_ARGS, "given passwords are different"));
    }
    Ok(first)
}

pub fn role_list(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "role list command requires no arguments")?;
    let response: pb::AuthRoleListResponse = ctl.request(
        "/etcdserverpb.Auth/RoleList",
        &pb::AuthRoleListRequest::default(),
    )?;
    ctl.out.names(
        &response.roles,
        &response.header,
        "etcdserverpb.AuthRoleListResponse",
        &response,
    )
}

use super::output::unsupported;
use crate::golang::go_quote;
use prost::Message;

/// etcdctl 3.4's printers for these commands (the formats: output.rs).
impl super::output::Printer {
    /// Auth commands whose simple output is one sentence and whose fields output is the header.
    pub fn auth_done<M: Message>(
        &self,
        sentence: &str,
        header: &Option<pb::ResponseHeader>,
        type_name: &str,
        r: &M,
    ) -> Outcome {
        match self.format {
            Format::Simple => println!("{sentence}"),
            Format::Fields => Self::fields_header(header),
            _ => return self.message(type_name, r),
        }
        Ok(())
    }

    /// `user list` / `role list`: one name per line.
    pub fn names<M: Message>(
        &self,
        names: &[String],
        header: &Option<pb::ResponseHeader>,
        type_name: &str,
        r: &M,
    ) -> Outcome {
        match self.format {
            Format::Simple => names.iter().for_each(|n| println!("{n}")),
            Format::Fields if type_name.contains("Role") => {
                Self::fields_header(header);
                let quoted: Vec<String> = names.iter().map(|n| go_quote(n.as_bytes())).collect();
                println!("\"Roles\" : {}", quoted.join(" "));
            }
            Format::Json | Format::Protobuf => return self.message(type_name, r),
            format => return Err(unsupported(format)),
        }
        Ok(())
    }
}
