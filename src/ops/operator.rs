use crate::domain::Operator;

/// Who is at the keyboard: `$USER@hostname`, plus the SSH client address
/// (`SSH_CLIENT`'s first field) when logged in over SSH.
pub fn detect_operator() -> Operator {
    let user = ["BEACON_OPERATOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(uid_from_proc)
        .unwrap_or_else(|| "unknown".into());
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let ssh_client = std::env::var("SSH_CLIENT")
        .ok()
        .and_then(|v| v.split_whitespace().next().map(str::to_string));
    Operator {
        user,
        host: if host.is_empty() {
            "unknown".into()
        } else {
            host
        },
        ssh_client,
    }
}

fn uid_from_proc() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?;
    Some(if uid == "0" {
        "root".into()
    } else {
        format!("uid{uid}")
    })
}
