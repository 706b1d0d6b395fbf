//! Shell completions (bash, zsh, fish) from the CLI definition, with what clap_complete
//! gets wrong for this program put right:
//!
//! - clap_complete writes hidden commands and flags into every script: the tree is copied
//!   without them first ([`visible`]).
//! - Its bash script cannot complete past the first word of a program whose name has a
//!   hyphen (clap-rs/clap#6421): the loop that follows the words escapes the name's `-` as
//!   `__`, the case arms as `__subcmd__`, so no arm after the top level ever matches. The
//!   script is generated for a name without hyphens and registered for the real one
//!   ([`bash`]); every state the loop can reach is then checked to have its arm.

use anyhow::{bail, ensure, Context};
use clap::Command;
use clap_complete::Shell;

use crate::BIN;

/// The completion script for `shell`, and the file name it is installed under.
pub fn generate(shell: Shell) -> anyhow::Result<(String, String)> {
    let script = match shell {
        Shell::Bash => bash()?,
        Shell::Zsh | Shell::Fish => render(shell, BIN)?,
        other => bail!("no completions are shipped for {other}"),
    };
    let file = match shell {
        Shell::Bash => format!("{BIN}.bash"),
        Shell::Zsh => format!("_{BIN}"),
        _ => format!("{BIN}.fish"),
    };
    Ok((script, file))
}

/// The shells whose completions the package ships.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

fn render(shell: Shell, name: &str) -> anyhow::Result<String> {
    let mut command = visible(&crate::command());
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut out);
    String::from_utf8(out).context("clap_complete wrote a script that is not UTF-8")
}

/// The command tree without hidden subcommands and arguments: what a user may be offered.
/// Only what completion reads is copied (names, aliases, help, arguments, version).
pub fn visible(command: &Command) -> Command {
    let mut copy = Command::new(leak(command.get_name()))
        .args(command.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(command.get_subcommands().filter(|c| !c.is_hide_set()).map(visible))
        .visible_aliases(command.get_visible_aliases().map(leak).collect::<Vec<_>>());
    if let Some(about) = command.get_about() {
        copy = copy.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        copy = copy.version(leak(version));
    }
    copy
}

/// clap takes names as `&'static str` (without its `string` feature, which would rebuild
/// clap and the agent's library for this tool alone); a few bytes, once per run.
fn leak(text: &str) -> &'static str {
    Box::leak(text.into())
}

/// The bash script, generated for `gittensor_miner_agent` (no hyphen, so its states and
/// case arms agree) and registered for `gittensor-miner-agent`. The loop starts from the
/// word bash hands over (`$1`), so the completed command's own name never matters.
fn bash() -> anyhow::Result<String> {
    let alias = BIN.replace('-', "_");
    let script = render(Shell::Bash, &alias)?;
    let mut registered = 0;
    let script: String = script
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            match trimmed.strip_suffix(&format!(" {alias}")) {
                Some(head) if trimmed.starts_with("complete -F ") => {
                    registered += 1;
                    format!("{}{head} {BIN}\n", &line[..line.len() - trimmed.len()])
                }
                _ => format!("{line}\n"),
            }
        })
        .collect();
    ensure!(registered > 0, "clap_complete's bash script has no `complete -F … {alias}` line to register {BIN} with");
    check_bash_states(&script)?;
    Ok(script)
}

/// Every state the bash script's word loop can set (`cmd="…"`) must have a case arm
/// (`…)`), or completion silently stops there: the very bug this module works around.
pub fn check_bash_states(script: &str) -> anyhow::Result<()> {
    let states =
        script.lines().filter_map(|l| l.trim().strip_prefix("cmd=\"")?.strip_suffix('"')).filter(|s| !s.is_empty());
    let arms: Vec<&str> = script.lines().filter_map(|l| l.trim().strip_suffix(')')).collect();
    let mut count = 0;
    for state in states {
        ensure!(arms.contains(&state), "the bash completion script reaches state {state:?} but has no case arm for it");
        count += 1;
    }
    ensure!(count > 1, "the bash completion script has no subcommand states: clap_complete's layout changed");
    Ok(())
}
